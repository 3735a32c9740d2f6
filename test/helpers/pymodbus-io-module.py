"""A barrier I/O module served by pymodbus (Debian's python3-pymodbus), a Modbus TCP slave nobody
on this project wrote, for tests of the gateway against a peer of its own.

Register map (0-based, as on the wire; the tests' `registers`): coils 0 OPEN and 1 CLOSE (relay
pulses to the barrier controller); discrete inputs 0 open limit, 1 closed limit, 2 vehicle loop,
3 safety photocell. A coil switched on moves the arm at once (its limit switches follow), unless
the arm is jammed. The module, like a real one, refuses nothing: closing on a vehicle is the
gateway's to prevent.

Usage: /usr/bin/python3 pymodbus-io-module.py [UNIT]   (listens on 127.0.0.1, a free port)
stdout: `listening PORT`, then `coil ADDRESS 0|1` for every coil written.
stdin, one command a line, each answered `ok ...` on stdout once applied:
  set open-limit|closed-limit|loop|photocell 0|1
  jam 0|1
End of stdin stops the module.
"""
import asyncio
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncTcpServer

OPEN_COIL, CLOSE_COIL = 0, 1
INPUTS = {"open-limit": 0, "closed-limit": 1, "loop": 2, "photocell": 3}


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Module:
    def __init__(self):
        self.inputs = ModbusSequentialDataBlock(0, [False] * 8)
        self.coils = Coils(self)
        self.jammed = False
        # The arm starts closed.
        self.inputs.setValues(INPUTS["closed-limit"], [True])

    def move(self, coil):
        if self.jammed:
            return
        opened = coil == OPEN_COIL
        self.inputs.setValues(INPUTS["open-limit"], [opened])
        self.inputs.setValues(INPUTS["closed-limit"], [not opened])


class Coils(ModbusSequentialDataBlock):
    def __init__(self, module):
        super().__init__(0, [False] * 8)
        self.module = module

    def setValues(self, address, values):
        values = values if isinstance(values, list) else [values]
        for offset, value in enumerate(values):
            say(f"coil {address + offset} {1 if value else 0}")
            if value and address + offset in (OPEN_COIL, CLOSE_COIL):
                self.module.move(address + offset)
        super().setValues(address, values)


async def commands(module):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode()
        if not line:
            return
        words = line.split()
        if len(words) == 3 and words[0] == "set" and words[1] in INPUTS and words[2] in ("0", "1"):
            module.inputs.setValues(INPUTS[words[1]], [words[2] == "1"])
            say(f"ok {words[1]} {words[2]}")
        elif len(words) == 2 and words[0] == "jam" and words[1] in ("0", "1"):
            module.jammed = words[1] == "1"
            say(f"ok jam {words[1]}")
        else:
            say(f"error unknown command: {line.strip()}")


async def main():
    # pymodbus logs every client disconnect as an error: only what stops the module is of interest.
    logging.basicConfig(level=logging.CRITICAL)
    unit = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    module = Module()
    slave = ModbusSlaveContext(di=module.inputs, co=module.coils, zero_mode=True)
    server = await StartAsyncTcpServer(
        context=ModbusServerContext(slaves={unit: slave}, single=False),
        address=("127.0.0.1", 0),
        defer_start=True,
        allow_reuse_address=True,
    )
    serving = asyncio.create_task(server.serve_forever())
    await server.serving
    say(f"listening {server.server.sockets[0].getsockname()[1]}")
    await commands(module)
    serving.cancel()
    await server.server_close()


if __name__ == "__main__":
    asyncio.run(main())
