"""What generation publishes to the apps around it, so that it never reaches into their services.

- `generation_completed`: sent with `generation` and its result `attachment` inside the transaction that
  completes the job (receivers write in the same transaction).
- `own_file_find`: sent with `owner` and `url` when a job is asked to use one of our files; a receiver answers
  the owner's attachment that the URL names (made on first sight), or None, and may raise GenerationError.
- `step_planned`: sent on commit with `step` ("submit", "track", "complete", "fill"), its `args` and `run_after`
  (None: now);
  generation.tasks enqueues the step, so that the services never import the tasks that call them.
"""

from django.dispatch import Signal

generation_completed = Signal()
own_file_find = Signal()
step_planned = Signal()
