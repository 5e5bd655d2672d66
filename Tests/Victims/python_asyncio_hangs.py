"""asyncio programs that hang for good, and healthy ones that only look alike. Prints
"ready <pid> <helper>" once its tasks are where they stay (helper: a second process, or 0).

Hangs: nothing in the program can ever run on its loop again.
  cycle      tasks 'publish' and 'ingest' await each other; main awaits both.
  locks      tasks 'left' and 'right' take two asyncio.Locks in opposite order.
  event      main awaits an asyncio.Event nothing sets.
  queue      'consumer' awaits a Queue nobody feeds; main awaits it.
  cancelled  main awaits a future whose setter task was cancelled.
  subprocess main awaits the output of a child that waits for its input, which main never closes.

Healthy: something can still run.
  sleeping   a task sleeping for an hour (a timer).
  sigterm    main awaits an Event its SIGTERM handler (add_signal_handler) sets.
  server     a server with one idle client connection from this process.
  peer       a task reading from a TCP connection to another process that never writes.
"""
import asyncio
import os
import signal
import socket
import sys
import time


def ready(helper=0):
    print(f"ready {os.getpid()} {helper}", flush=True)


async def settle():
    # Long enough for every task to reach the wait it stays in; the timer is gone after it.
    await asyncio.sleep(0.2)


async def cycle():
    tasks = {}

    async def publish():
        await tasks["ingest"]

    async def ingest():
        await tasks["publish"]

    tasks["publish"] = asyncio.ensure_future(publish())
    tasks["ingest"] = asyncio.ensure_future(ingest())
    tasks["publish"].set_name("publish")
    tasks["ingest"].set_name("ingest")
    await settle()
    ready()
    await asyncio.gather(tasks["publish"], tasks["ingest"])


async def locks():
    first, second = asyncio.Lock(), asyncio.Lock()

    async def take(name, a, b):
        async with a:
            await asyncio.sleep(0.05)
            async with b:
                pass

    left = asyncio.ensure_future(take("left", first, second))
    right = asyncio.ensure_future(take("right", second, first))
    left.set_name("left")
    right.set_name("right")
    await settle()
    ready()
    await asyncio.gather(left, right)


async def event():
    nothing_sets_it = asyncio.Event()
    await settle()
    ready()
    await nothing_sets_it.wait()


async def queue():
    jobs = asyncio.Queue()

    async def consume():
        while True:
            await jobs.get()

    consumer = asyncio.ensure_future(consume())
    consumer.set_name("consumer")
    await settle()
    ready()
    await consumer


async def cancelled():
    loop = asyncio.get_running_loop()
    result = loop.create_future()

    async def set_later():
        await asyncio.sleep(3600)
        result.set_result(1)

    setter = asyncio.ensure_future(set_later())
    setter.set_name("setter")
    await asyncio.sleep(0)
    setter.cancel()
    await settle()
    ready()
    await result


async def subprocess():
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "import sys; sys.stdin.read()",
                                                 stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    await settle()
    ready(child.pid)
    await child.stdout.read()


async def sleeping():
    sleeper = asyncio.ensure_future(asyncio.sleep(3600))
    sleeper.set_name("sleeper")
    await settle()
    ready()
    await sleeper


async def sigterm():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await settle()
    ready()
    await stop.wait()


async def server():
    async def serve(reader, writer):
        await reader.read(1)

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await settle()
    ready()
    await reader.read(1)


async def peer():
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(1)
    port = listening.getsockname()[1]
    helper = os.fork()
    if helper == 0:
        connection, _ = listening.accept()
        time.sleep(3600)
        os._exit(0)
    listening.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await settle()
    ready(helper)
    await reader.read(1)


if __name__ == "__main__":
    scenario = globals()[sys.argv[1]]
    asyncio.run(scenario())
