"""The five AWS experiments, run by ``chaosrunner run`` against a moto server, asserting AWS state."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cloud import aws_estate
from tests.cloud.conftest import REPO, chaosrunner_run, quick_copy

pytestmark = pytest.mark.slow
EXP = REPO / "experiments" / "aws"
PINBOARD = [{"Name": "tag:service", "Values": ["pinboard"]}]


def test_monday_terminates_one_instance_only_in_the_targeted_zone(aws, state_dirs, tmp_path: Path) -> None:
    before = {i["InstanceId"]: i["Placement"]["AvailabilityZone"] for i in aws_estate.running()}
    code, journal, err = chaosrunner_run(EXP / "mon-instance-kill.yaml", state_dirs["journals"])
    assert code == 0, err[-3000:]
    killed = aws_estate.terminated_ids()
    assert len(killed) == 1
    (victim,) = killed
    assert before[victim] == "us-east-1a"
    assert victim not in aws.checkout.values()
    cr = journal["chaosrunner"]
    assert [t["id"] for t in cr["targets"]] == [victim]
    assert cr["verdict"] == "passed"
    assert cr["figures"]["replacement_time_s"] >= 0
    assert len(aws_estate.running([*PINBOARD, {"Name": "availability-zone", "Values": ["us-east-1a"]}])) == 2
