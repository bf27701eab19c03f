"""Prefect's own zombie detection for slices-bi's runs: an automation that marks a run
`Crashed` when its heartbeats stop (its worker was killed, ran out of memory, or lost its
machine).

Flow runs send a `prefect.flow-run.heartbeat` event every `HEARTBEAT_SECONDS` (the worker
sets PREFECT_FLOWS_HEARTBEAT_FREQUENCY to it). The automation waits, for each run of ours (tag
`slices-bi`), for the next heartbeat or a final state; when none comes within
`run_dead_after_seconds`, it changes the run to Crashed. The sweep then resumes the run
(`slices_bi.deployments.sweep`). A run handed back by a stopping worker (AwaitingRetry) is
not waited on: its wait starts again with its next heartbeat.

See https://docs.prefect.io/v3/advanced/detect-zombie-flows.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from slices_bi.deployments.names import HEARTBEAT_SECONDS

logger = logging.getLogger(__name__)

AUTOMATION_NAME = "slices-bi: crash runs whose heartbeat stopped"
RUN_TAG = "slices-bi"
_SETTLING_EVENTS = {
    "prefect.flow-run.heartbeat",
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
    "prefect.flow-run.AwaitingRetry",
    "prefect.flow-run.Scheduled",
}


def zombie_automation(dead_after_seconds: int) -> AutomationCore:
    """The automation, for runs silent for `dead_after_seconds` (more than a heartbeat)."""
    if dead_after_seconds <= HEARTBEAT_SECONDS:
        raise ValueError(
            f"a run must be silent longer than one heartbeat ({HEARTBEAT_SECONDS} s) to be dead"
        )
    return AutomationCore(
        name=AUTOMATION_NAME,
        description=(
            "Marks a slices-bi flow run Crashed when no heartbeat came for "
            f"{dead_after_seconds} s: its worker died. slices-bi's sweep then resumes it."
        ),
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect=_SETTLING_EVENTS,
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification(
                {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{RUN_TAG}"}
            ),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=dead_after_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=(
                    f"no heartbeat for {dead_after_seconds} s: the worker running it stopped "
                    "without handing it back"
                ),
            )
        ],
    )


def ensure_zombie_automation(dead_after_seconds: int) -> None:
    """Create the automation, or bring the existing one up to date. Idempotent."""
    wanted = zombie_automation(dead_after_seconds)
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(AUTOMATION_NAME)
        if not existing:
            client.create_automation(wanted)
            logger.info("created the Prefect automation %r", AUTOMATION_NAME)
            return
        first, *extra = existing
        for duplicate in extra:  # two workers raced at their first start
            client.delete_automation(duplicate.id)
        if first.trigger != wanted.trigger or first.actions != wanted.actions:
            client.update_automation(first.id, wanted)
            logger.info("updated the Prefect automation %r", AUTOMATION_NAME)
