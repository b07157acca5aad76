"""AWS activities of our own, next to chaostoolkit-aws (chaosaws): what chaosaws lacks.

* :mod:`.ec2` — terminate exactly the runner's chosen instances; count running instances (chaosaws'
  ``count_instances`` counts reservations); measure ASG replacement time.
* :mod:`.network` — an Availability-Zone network blackhole (a deny-all network ACL) and its undo.
* :mod:`.elb` — take one AZ out of an application load balancer (via chaosaws ``set_subnets``) and put it back.
* :mod:`.rds` — who is the cluster writer, and how long a failover took to switch it.

Every fault these modules inject records its undo in the ledger first (:mod:`.faults`). Clients carry
timeouts (:mod:`chaosrunner.platforms.aws`); like chaosaws they read ``AWS_ENDPOINT_URL`` through boto3.
"""
