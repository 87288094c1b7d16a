"""The planning bench: what a process remembers (placements, input fingerprints) does not change the plan."""

import json

from .conftest import load_bench


def test_a_fresh_process_and_a_later_pass_plan_the_same_demo_tasks(capsys):
    bench = load_bench("bench_planning")
    assert bench.main(["--passes", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["same_tasks"] is True
    assert doc["tasks"] > doc["placement_tasks"] > 0
    assert doc["finished"] == 0 and len(doc["later_pass_s"]) == 2
