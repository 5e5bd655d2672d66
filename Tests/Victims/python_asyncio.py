"""asyncio tasks suspended in known places, none of which ever wakes up:

- `publish` awaits the task `ingest`, which awaits `publish`: an await cycle;
- `transfer-ab` and `transfer-ba` take two asyncio.Locks in opposite order;
- `sleepers` gathers three tasks `nap-0` … `nap-2` sleeping for an hour;
- `grouped` (3.11+) waits for its TaskGroup's child `group-child`, asleep;
- `python-task`, a task written in Python (`asyncio.tasks._PyTask`), asleep;
- the main task (`Task-1`) waits for an Event nobody sets.

Once every task is suspended, the main task prints what Python itself says about every other task:

    task NAME ADDRESS STATE WAITER_TYPE WAITER_ADDRESS
    frame FUNCTION LINE FILE        (the task's coroutines, outermost first)

then `main ADDRESS` and `ready PID`, and suspends. Lines marked `# await:NAME` are where the coroutine
NAME is suspended.
"""
import asyncio
import os
import signal
import sys

# A victim whose test died without killing it ends by itself (SIGALRM's default action).
signal.alarm(300)


async def ingest(state):
    await state["publish"]  # await:ingest


async def publish(state):
    state["ingest"] = asyncio.ensure_future(ingest(state))
    state["ingest"].set_name("ingest")
    await state["ingest"]  # await:publish


async def transfer(first, second, held):
    async with first:
        held.append(first)
        while len(held) < 2:
            await asyncio.sleep(0)
        async with second:  # await:transfer
            pass


async def nap():
    await asyncio.sleep(3600)  # await:nap


async def sleepers():
    naps = []
    for i in range(3):
        naps.append(asyncio.ensure_future(nap()))
        naps[-1].set_name("nap-%d" % i)
    await asyncio.gather(*naps)  # await:sleepers


async def grouped():
    async with asyncio.TaskGroup() as group:  # await:grouped
        group.create_task(nap(), name="group-child")


def type_name(t):
    return "%s.%s" % (t.__module__, t.__name__) if t.__module__ == "_asyncio" else t.__name__


def coroutines(coro):
    """The coroutine chain as Python sees it: each coroutine's frame, then what it awaits."""
    while True:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            return
        code = frame.f_code
        yield getattr(code, "co_qualname", code.co_name), frame.f_lineno, code.co_filename
        coro = getattr(coro, "cr_await", None) if hasattr(coro, "cr_await") else getattr(coro, "gi_yieldfrom", None)
        if coro is None or not (hasattr(coro, "cr_frame") or hasattr(coro, "gi_frame")):
            return


def state_of(task):
    return "cancelled" if task.cancelled() else "finished" if task.done() else "pending"


def named(coro, name):
    task = asyncio.ensure_future(coro)
    task.set_name(name)
    return task


async def main():
    state = {}
    state["publish"] = named(publish(state), "publish")
    first, second = asyncio.Lock(), asyncio.Lock()
    held = []
    named(transfer(first, second, held), "transfer-ab")
    named(transfer(second, first, held), "transfer-ba")
    named(sleepers(), "sleepers")
    if sys.version_info >= (3, 11):
        named(grouped(), "grouped")
    asyncio.tasks._PyTask(nap(), name="python-task")
    for _ in range(50):
        await asyncio.sleep(0)
    me = asyncio.current_task()
    lines = []
    for task in asyncio.all_tasks():
        if task is me:
            continue
        waiter = task._fut_waiter
        lines.append("task %s %d %s %s %d" % (task.get_name(), id(task), state_of(task),
                                             type_name(type(waiter)) if waiter is not None else "-",
                                             id(waiter) if waiter is not None else 0))
        for function, line, filename in coroutines(task.get_coro()):
            lines.append("frame %s %d %s" % (function, line, filename))
    lines.append("main %d" % id(me))
    print("\n".join(lines), flush=True)
    never = asyncio.Event()
    print("ready %d" % os.getpid(), flush=True)
    await never.wait()  # await:main


asyncio.run(main())
