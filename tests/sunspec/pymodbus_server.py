#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SunSpec tests' independent Modbus TCP server: Debian's python3-pymodbus (3.0 API) serving
the same register image files as tests/sunspec/sunspec_server.c, one image per unit id.

    pymodbus_server.py PORT UNIT=IMAGE [UNIT=IMAGE ...]

Prints "listening PORT" once the socket listens and "write UNIT ADDR N V1 ..." after each write
(stdout, flushed). Runs until SIGTERM. Exits 77 when pymodbus (or its python3-serial-asyncio
dependency) cannot be imported, so that the calling test can report "skipped".
"""
import asyncio
import signal
import sys

try:
    from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                    ModbusSlaveContext)
    from pymodbus.server.async_io import ModbusTcpServer
except ImportError as exc:  # pragma: no cover - the test skips
    print(f"pymodbus is not available: {exc}", file=sys.stderr)
    sys.exit(77)


def load(path):
    regs = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if len(line) == 2:
                regs[int(line[0])] = int(line[1])
    lo, hi = min(regs), max(regs)
    return lo, [regs.get(a, 0) for a in range(lo, hi + 1)]


class LoggingSlave(ModbusSlaveContext):
    """A slave context that reports every write of holding registers."""

    def __init__(self, unit, **kwargs):
        super().__init__(**kwargs)
        self.unit = unit

    def setValues(self, fc_as_hex, address, values):  # noqa: N802 (pymodbus' name)
        super().setValues(fc_as_hex, address, values)
        if fc_as_hex in (6, 16):
            print(f"write {self.unit} {address} {len(values)} " +
                  " ".join(str(v) for v in values), flush=True)


async def main():
    port = int(sys.argv[1])
    slaves = {}
    for arg in sys.argv[2:]:
        unit, path = arg.split("=", 1)
        lo, values = load(path)
        # zero_mode=True: request address a is block address a (the 3.0 default adds one).
        block = ModbusSequentialDataBlock(lo, values)
        slaves[int(unit)] = LoggingSlave(int(unit), hr=block, zero_mode=True)
    context = ModbusServerContext(slaves=slaves, single=False)
    server = ModbusTcpServer(context, address=("127.0.0.1", port), allow_reuse_address=True,
                             defer_start=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    task = asyncio.create_task(server.serve_forever())
    await server.serving  # set once the listening socket exists
    print(f"listening {server.server.sockets[0].getsockname()[1]}", flush=True)
    await stop
    await server.shutdown()
    task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
