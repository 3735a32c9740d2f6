"""A barrier I/O module on a serial line that answers late: Modbus RTU framing and CRC written
here from the specification (MODBUS over Serial Line V1.02, 2.5.1 and 6.2.2: CRC-16, polynomial
0xA001 reflected, initial 0xFFFF, low byte first), no Modbus library. It samples its inputs when a
Read Discrete Inputs (0x02) request arrives and answers `delay` ms later, as a module behind a busy
RS-485 line might; Write Single Coil (0x05) is echoed at once and reported on stdout.

Inputs, as the driver's default register map reads them (0-3): open limit, closed limit, loop,
photocell. The arm follows the coils: coil 0 (OPEN) on puts it open, coil 1 (CLOSE) on closed.
stdin: `delay MS`, `vehicle 0|1`; stdout: `ready`, `ok ...`, `read vehicle 0|1` (as a read is sampled),
`coil N on|off vehicle 0|1`.
"""
import os
import sys
import threading
import time
import tty

path = sys.argv[1]
fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
lock = threading.Lock()
state = {'delay': 0.0, 'vehicle': False, 'open': True}


def crc16(data):
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes([crc & 0xFF, crc >> 8])


def say(line):
    with lock:
        sys.stdout.write(line + '\n')
        sys.stdout.flush()


def send(frame):
    with lock:
        os.write(fd, frame)


def commands():
    for line in sys.stdin:
        name, value = line.split()
        if name == 'delay':
            state['delay'] = int(value) / 1000
        elif name == 'vehicle':
            state['vehicle'] = value == '1'
        say(f'ok {name} {value}')


threading.Thread(target=commands, daemon=True).start()
say('ready')
pending = b''
while True:
    pending += os.read(fd, 256)
    # Both requests the driver sends are 8 bytes: unit, function, two 16-bit fields, CRC.
    while len(pending) >= 8:
        request, pending = pending[:8], pending[8:]
        if crc16(request[:6]) != request[6:]:
            pending = b''
            break
        unit, function = request[0], request[1]
        if function == 0x02:
            bits = (0x01 if state['open'] else 0x02) | (0x04 if state['vehicle'] else 0)
            body = bytes([unit, 0x02, 0x01, bits])
            say(f"read vehicle {1 if state['vehicle'] else 0}")
            threading.Timer(state['delay'], send, [body + crc16(body)]).start()
        elif function == 0x05:
            address = int.from_bytes(request[2:4], 'big')
            on = request[4:6] == b'\xff\x00'
            if on:
                state['open'] = address == 0
            say(f"coil {address} {'on' if on else 'off'} vehicle {1 if state['vehicle'] else 0}")
            send(request)
