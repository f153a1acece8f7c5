"""Background steps of a generation, run by the worker through Django's tasks API.

Each step is short (one call to the provider) and plans the next one with run_after, so
tracking a job never holds a worker asleep.
"""

from django.dispatch import receiver

# Our `task` is Django's, plus the request id: a job's log lines share the id of the request that started it.
from higgs_project.observability import task

from . import services
from .models import Generation
from .signals import step_planned


@task()
def generation_submit(generation_id: str, token: str = "") -> None:
    services.generation_submit_step(generation_id=generation_id, token=token)


# Tracking goes before new submissions: a finished job's result should not wait behind a queue of new jobs.
@task(priority=10)
def generation_track(generation_id: str, token: str) -> None:
    services.generation_track_step(generation_id=generation_id, token=token)


# A result announced by a webhook: copy it in before anything else.
@task(priority=20)
def generation_complete(generation_id: str, result_url: str) -> None:
    services.generation_complete_step(generation_id=generation_id, result_url=result_url)


# Free Higgsfield slots handed to waiting jobs, when a back-off ends.
@task(priority=5)
def generation_pool_fill() -> None:
    services.generation_pool_fill()


STEPS = {
    "submit": generation_submit,
    "track": generation_track,
    "complete": generation_complete,
    "fill": generation_pool_fill,
}


@receiver(step_planned, sender=Generation)
def step_enqueue(sender, *, step, args, run_after, **kwargs):
    """The services plan a step (on commit); it is enqueued here, so that they never import these tasks."""
    task = STEPS[step]
    if run_after is not None:
        task = task.using(run_after=run_after)
    task.enqueue(*args)
