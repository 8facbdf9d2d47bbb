"""A job in which one rank fails while the others wait in a collective.

    failing.py raise     rank 1 raises (the others wait in an all_reduce)
    failing.py exit      rank 1 calls sys.exit(3)
    failing.py hang      rank 1 never reaches the all_reduce; the group's timeout is 2 s
    failing.py other     rank 1 calls broadcast where the others call all_reduce (#3)

Nothing here finishes on its own: only the failure handling can end the job.
"""

import sys
import time

import yingshe
import yingshe.distributed as dist

mode = sys.argv[1]
dist.init_process_group("mpi")
dist.barrier()        # ranks start at different times on a busy machine: wait for all
# the collectives under test run in a group with a 2 s timeout
group = dist.new_group(timeout=2) if mode in ("hang", "other") else None
t = yingshe.ones(8)
dist.all_reduce(t, group=group)
dist.all_reduce(t, group=group)
if dist.get_rank() == 1:
    if mode == "raise":
        raise ZeroDivisionError("rank 1 fails on purpose")
    if mode == "exit":
        sys.exit(3)
    if mode == "hang":
        time.sleep(3600)
    if mode == "other":
        dist.broadcast(t, src=0, group=group)
dist.all_reduce(t, group=group)
time.sleep(3600)
