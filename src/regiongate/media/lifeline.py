"""Media worker processes die with the gateway, however the gateway dies (SIGKILL from the OOM killer or a container
runtime included).

Nothing else ends them. A worker waits on a call queue whose write end it holds itself, and its parent is the fork
server, not the gateway. The fork server exits when its "alive" pipe from the gateway reaches EOF, but every worker
holds a copy of that pipe's write end too, so prctl(PR_SET_PDEATHSIG) in a worker would wait for the fork server,
which waits for the workers. What does end with the gateway is the pipe multiprocessing keeps open from the gateway
to each child it starts, the child's ``parent_process().sentinel``: a worker ties itself to that. Once the workers are
gone, the fork server and the resource tracker reach EOF on their pipes and exit by themselves.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.process import BaseProcess


def tie_to_parent() -> None:
    """End this process when the process that started it ends. Does nothing outside a multiprocessing child.

    Call it before capping the address space: it starts a thread, whose stack must be mapped first."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    if sys.platform == "linux":
        _kill_on_eof(parent.sentinel)
    threading.Thread(target=_exit_after, args=(parent,), name="media-lifeline", daemon=True).start()


def _kill_on_eof(fd: int) -> None:
    # When the last writer of an O_ASYNC pipe closes, the kernel signals the reader's owner, and F_SETSIG makes that
    # signal SIGKILL: this works while a decoder holds the GIL, when no thread of ours can run. Only the gateway holds
    # the write end, and it never writes to it after the start.
    import fcntl

    fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGKILL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)


def _exit_after(parent: BaseProcess) -> None:
    # Also covers a parent already gone before _kill_on_eof (the kernel signals only the closing) and other systems.
    parent.join()
    os._exit(1)
