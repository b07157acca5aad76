"""The pinboard estate the AWS experiments are written for, built in a moto server by the tests.

us-east-1, VPC ``pinboard-vpc`` with one subnet per AZ (a, b, c); one Auto Scaling group per AZ
(``pinboard-use1a``…, 2 instances each, tags service=pinboard tier=non-critical); one critical
``checkout`` instance per AZ (must never be touched); the ``pinboard-alb`` application load balancer
over the three subnets; the Aurora cluster ``pinboard-db`` with writer ``pinboard-db-1`` (1a) and
reader ``pinboard-db-2`` (1b), tagged service=pinboard-db tier=critical.

:func:`build_cdn` (only the CDN tests call it) adds the multi-CDN front of the images: two CloudFront
distributions over the ALB (``cdn-a``, ``cdn-b``; tags service=pinboard-images tier=non-critical cdn=…) and
the hosted zone ``pinboard.example.`` whose ``images`` name is one weighted CNAME per CDN (``cdn-a`` 100,
``cdn-b`` 0, TTL 60, each with an HTTPS health check on its CDN's ``/health``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
AMI = "ami-12c6146b"  # one of the AMIs moto ships


@dataclass
class Estate:
    vpc_id: str
    subnets: dict[str, str]  # AZ → subnet id
    asgs: dict[str, str]  # AZ → ASG name
    checkout: dict[str, str]  # AZ → instance id
    alb_arn: str
    default_acl: str
    extra: dict[str, Any] = field(default_factory=dict)


def asg_name(az: str) -> str:
    return f"pinboard-use1{az[-1]}"


def build(per_zone: int = 2) -> Estate:
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    asg = boto3.client("autoscaling", region_name=REGION)
    elb = boto3.client("elbv2", region_name=REGION)
    rds = boto3.client("rds", region_name=REGION)

    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "pinboard-vpc"}])
    subnets = {
        az: ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
        for i, az in enumerate(ZONES)
    }
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
    default_acl = next(a["NetworkAclId"] for a in acls if a["IsDefault"])
    ec2.create_launch_template(
        LaunchTemplateName="pinboard-lt", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"}
    )
    asgs = {}
    for az in ZONES:
        name = asg_name(az)
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": "pinboard-lt"},
            MinSize=per_zone,
            MaxSize=per_zone * 2,
            DesiredCapacity=per_zone,
            VPCZoneIdentifier=subnets[az],
            Tags=[
                {"Key": "service", "Value": "pinboard", "PropagateAtLaunch": True},
                {"Key": "tier", "Value": "non-critical", "PropagateAtLaunch": True},
            ],
        )
        asgs[az] = name
    checkout = {}
    for az in ZONES:
        inst = ec2.run_instances(
            ImageId=AMI,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            SubnetId=subnets[az],
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "service", "Value": "checkout"}, {"Key": "tier", "Value": "critical"}],
                }
            ],
        )["Instances"][0]
        checkout[az] = inst["InstanceId"]
    alb = elb.create_load_balancer(Name="pinboard-alb", Subnets=list(subnets.values()), Type="application")
    rds.create_db_cluster(
        DBClusterIdentifier="pinboard-db",
        Engine="aurora-postgresql",
        MasterUsername="pinboard",
        MasterUserPassword="not-a-secret-1",
        Tags=[{"Key": "service", "Value": "pinboard-db"}, {"Key": "tier", "Value": "critical"}],
    )
    for i, az in ((1, ZONES[0]), (2, ZONES[1])):
        rds.create_db_instance(
            DBInstanceIdentifier=f"pinboard-db-{i}",
            DBClusterIdentifier="pinboard-db",
            Engine="aurora-postgresql",
            DBInstanceClass="db.r5.large",
            AvailabilityZone=az,
            Tags=[{"Key": "service", "Value": "pinboard-db"}, {"Key": "tier", "Value": "critical"}],
        )
    return Estate(vpc, subnets, asgs, checkout, alb["LoadBalancers"][0]["LoadBalancerArn"], default_acl)


def running(filters: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Running instances matching ``filters`` (instance dicts)."""
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    flt = [*(filters or []), {"Name": "instance-state-name", "Values": ["running"]}]
    return [i for r in ec2.describe_instances(Filters=flt)["Reservations"] for i in r["Instances"]]


def terminated_ids() -> set[str]:
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    flt = [{"Name": "instance-state-name", "Values": ["terminated", "shutting-down"]}]
    return {i["InstanceId"] for r in ec2.describe_instances(Filters=flt)["Reservations"] for i in r["Instances"]}


ZONE = "pinboard.example."
IMAGES = f"images.{ZONE}"
CDNS = {"cdn-a": 100, "cdn-b": 0}  # set identifier → weight in steady state


@dataclass
class CdnEstate:
    zone_id: str
    distributions: dict[str, str]  # set identifier → distribution id
    domains: dict[str, str]  # set identifier → *.cloudfront.net
    health_checks: dict[str, str]


def build_cdn() -> CdnEstate:
    import boto3

    elb = boto3.client("elbv2", region_name=REGION)
    cf = boto3.client("cloudfront", region_name=REGION)
    r53 = boto3.client("route53", region_name=REGION)
    origin = elb.describe_load_balancers(Names=["pinboard-alb"])["LoadBalancers"][0]["DNSName"]
    ids, domains, checks = {}, {}, {}
    for sid in CDNS:
        config = {
            "CallerReference": f"pinboard-images-{sid}",
            "Comment": f"pinboard images via {sid}",
            "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{"Id": "pinboard-alb", "DomainName": origin, "CustomOriginConfig": {
                "HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}]},
            "DefaultCacheBehavior": {"TargetOriginId": "pinboard-alb", "ViewerProtocolPolicy": "redirect-to-https",
                                     "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},  # CachingOptimized
        }  # fmt: skip
        tags = [{"Key": "service", "Value": "pinboard-images"}, {"Key": "tier", "Value": "non-critical"},
                {"Key": "cdn", "Value": sid}]  # fmt: skip
        dist = cf.create_distribution_with_tags(
            DistributionConfigWithTags={"DistributionConfig": config, "Tags": {"Items": tags}}
        )["Distribution"]
        ids[sid], domains[sid] = dist["Id"], dist["DomainName"]
        checks[sid] = r53.create_health_check(
            CallerReference=f"images-{sid}",
            HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": dist["DomainName"],
                               "ResourcePath": "/health", "RequestInterval": 10, "FailureThreshold": 3},
        )["HealthCheck"]["Id"]  # fmt: skip
    zone_id = r53.create_hosted_zone(Name=ZONE, CallerReference="pinboard-example")["HostedZone"]["Id"].split("/")[-1]
    changes = [
        {"Action": "CREATE", "ResourceRecordSet": {
            "Name": IMAGES, "Type": "CNAME", "SetIdentifier": sid, "Weight": weight, "TTL": 60,
            "ResourceRecords": [{"Value": domains[sid]}], "HealthCheckId": checks[sid]}}
        for sid, weight in CDNS.items()
    ]  # fmt: skip
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return CdnEstate(zone_id, ids, domains, checks)


def images_records(zone_id: str) -> list[dict[str, Any]]:
    """The record sets of the images name, whole, as Route 53 lists them."""
    import boto3

    r53 = boto3.client("route53", region_name=REGION)
    found = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return sorted((r for r in found if r["Name"] == IMAGES), key=lambda r: r.get("SetIdentifier", ""))


def distribution_state(distribution_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(the distribution's whole config, its tags)."""
    import boto3

    cf = boto3.client("cloudfront", region_name=REGION)
    dist = cf.get_distribution(Id=distribution_id)["Distribution"]
    tags = cf.list_tags_for_resource(Resource=dist["ARN"])["Tags"].get("Items", [])
    return dist["DistributionConfig"], {t["Key"]: t["Value"] for t in tags}
