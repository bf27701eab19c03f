"""The pre-flight step of `provision-resources`: before any server is created, the whole
request is checked against the cloud as it is now (`slices_bi.openstack.preflight`).

A request that does not fit the project's quota fails every resource at once with
`QuotaExceeded` (naming the quota, what was asked and what is left) and nothing is
created; a VM whose image does not fit its flavor, or whose floating IP has no external
network, fails alone. Resources that already have a server (a resumed run) are not
counted again. Two requests checked at the same moment can still both pass and meet
Nova's own quota refusal at create time: the pre-flight spares the common case, it is
not a reservation.
"""

from __future__ import annotations

from prefect import get_run_logger, task

from slices_bi.catalog import flow_queries
from slices_bi.flows.common import cloud_task_options
from slices_bi.flows.provision_steps import GONE, BootIds
from slices_bi.flows.steps import Outcome
from slices_bi.openstack.connection import connect
from slices_bi.openstack.errors import FinalCloudError
from slices_bi.openstack.plans import VmAsk
from slices_bi.openstack.preflight import preflight, quota_error
from slices_bi.settings import get_settings


@task(name="pre-flight", **cloud_task_options())
def preflight_check(boots: dict[str, BootIds], networks: dict[str, str]) -> Outcome:
    """Quota headroom (instances, cores, RAM, floating IPs) for all the VMs at once,
    image-vs-flavor fit, networks; the resources that may go on to create-servers."""
    outcome = Outcome()
    asks: list[VmAsk] = []
    for rid in networks:
        view = flow_queries.get_resource_view(rid)
        if view is None or view.status in GONE:
            outcome.superseded.add(rid)
        elif view.server_id:
            outcome.done[rid] = view.server_id  # built by an earlier try: already counted
        else:
            boot = boots[rid]
            asks.append(VmAsk(rid, boot.image_id, boot.flavor_id, networks[rid], view.public_ipv4))
    if not asks:
        return outcome
    report = preflight(connect(), asks, get_settings().external_network)
    public = {a.key for a in asks if a.public_ipv4}
    for problem in report.problems:
        keys = [problem.key] if problem.key else sorted(public)
        for key in keys:
            outcome.failed.setdefault(key, FinalCloudError(problem.message, reason=problem.reason))
    if report.shortfalls:
        get_run_logger().warning("pre-flight: %s", report.quota_message())
        error = quota_error(report)
        for ask in asks:
            outcome.failed.setdefault(ask.key, error)
    for ask in asks:
        if ask.key not in outcome.failed:
            outcome.done[ask.key] = None
    return outcome
