"""Route of tasks: the progress of a request or a deletion."""

from __future__ import annotations

from fastapi import APIRouter

from slices_bi.api.deps import IdentityDep, SessionDep
from slices_bi.api.errors import COMMON_ERRORS, documented
from slices_bi.auth import ExperimentIdentity
from slices_bi.catalog import repository
from slices_bi.catalog.errors import NotFound
from slices_bi.catalog.models import Task, TaskPublic

router = APIRouter(
    prefix="/tasks",
    tags=["tasks"],
    responses={
        **COMMON_ERRORS,
        **documented(_404="No such task (or not one of the token's experiment or user)"),
    },
)


@router.get("/{task_id}", response_model=TaskPublic, summary="Follow a task")
def get_task(task_id: str, session: SessionDep, identity: IdentityDep) -> Task:
    """`status` is pending, running, finished, failed or cancelled; `completed` goes 0..100."""
    task = repository.get_task(session, task_id)
    if task is not None:
        if isinstance(identity, ExperimentIdentity):
            allowed = task.experiment_id == identity.experiment_id
        else:
            allowed = task.user_id == identity.user_id
        if allowed:
            return task
    # Another experiment's task answers exactly like an unknown id.
    raise NotFound(f"task {task_id} does not exist", code="task_not_found")
