"""AWS activities of our own, next to chaostoolkit-aws (chaosaws): what chaosaws lacks.

* :mod:`.ec2` — terminate exactly the runner's chosen instances (confirmed shutting-down); count running
  instances (chaosaws' ``count_instances`` counts reservations); measure ASG replacement time.
* :mod:`.network` — an Availability-Zone network blackhole (a deny-all network ACL) and its undo.
* :mod:`.elb` — take one AZ out of an application load balancer (via chaosaws ``set_subnets``) and put it back.
* :mod:`.rds` — who is the cluster writer; a failover (and fail-back) that waits for the cluster to settle.
* :mod:`.ssm` — shell scripts through SSM, waited for on every instance until each succeeded.
* :mod:`.capacity` — when an Auto Scaling group is whole again (victims gone, replacements InService).
* :mod:`.cdn` — a CloudFront distribution of a multi-CDN name goes dark; Route 53 weighted steering switched
  to a serving CDN, timed from the fault.
* :mod:`.deadline` — the poll-with-a-deadline every asynchronous action above ends with.

Every fault these modules inject records its undo in the ledger first (:mod:`.faults`). Clients carry
timeouts (:mod:`chaosrunner.platforms.aws`); like chaosaws they read ``AWS_ENDPOINT_URL`` through boto3.
"""
