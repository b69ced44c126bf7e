"""A notebook client that goes on when the kernel finished a cell but its execute reply was lost.

Now and then ipykernel 7 publishes "idle" for a cell and never sends the execute reply on the
shell channel (upstream nbclient #312); nbclient then waits for the reply until the cell's time
limit. The kernel sends the reply *before* it publishes idle, so once idle has come, a reply that
has not followed within ``reply_grace`` seconds is lost: :class:`RecoverLostReply` then ends the
cell with the outputs received (status "error" if one of them is an error).

The grader (``autograder.execute.GuardedExecute``), the book build and the tests
(``tools.book.run_notebook``) all run notebooks through it.
"""

import asyncio
import time

from nbclient import NotebookClient
from nbclient.util import run_hook
from traitlets import Callable, Float


class RecoverLostReply(NotebookClient):
    reply_grace = Float(
        5.0, help="seconds to wait for the execute reply after the kernel went idle for a cell"
    ).tag(config=True)
    on_lost_reply = Callable(
        default_value=None,
        allow_none=True,
        help="called when a cell's reply was lost, with kwargs cell, cell_index and waited (s)",
    ).tag(config=True)

    async def _async_poll_for_reply(self, msg_id, cell, timeout, output_task, alive_task):
        # nbclient's wait for the reply, racing the iopub task, which ends when the kernel says idle
        reply = asyncio.ensure_future(
            super()._async_poll_for_reply(msg_id, cell, timeout, output_task, alive_task)
        )
        try:
            await asyncio.wait({reply, output_task}, return_when=asyncio.FIRST_COMPLETED)
            if reply.done():
                return reply.result()
            idle = time.monotonic()  # iopub is done: the kernel went idle for this cell
            done, _ = await asyncio.wait({reply}, timeout=self.reply_grace)
            if done:
                return reply.result()
        except BaseException:  # cancelled (the kernel died) or the reply failed
            reply.cancel()
            raise
        reply.cancel()
        alive_task.cancel()  # else it would go on watching, and cancel, the next cell's poll
        output_task.result()  # an error raised while handling the outputs still counts
        index = next((i for i, c in enumerate(self.nb.cells) if c is cell), None)
        await self._async_lost_reply(cell, index, time.monotonic() - idle)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        content = {"status": "ok"}
        if errors:
            content = {"status": "error", **{k: errors[-1].get(k) for k in ("ename", "evalue", "traceback")}}
        return {"parent_header": {"msg_id": msg_id}, "content": content}

    async def _async_lost_reply(self, cell, cell_index, waited):
        """Say that ``cell``'s reply was lost (after ``waited`` seconds of grace)."""
        self.log.warning(
            "cell %s: the kernel went idle but its execute reply was lost; went on after %.1f s "
            "with the outputs received", cell_index, waited,
        )  # fmt: skip
        await run_hook(self.on_lost_reply, cell=cell, cell_index=cell_index, waited=waited)
