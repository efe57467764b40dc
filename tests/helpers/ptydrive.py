#!/usr/bin/env python3
"""Drive a command in a pseudo-terminal of its own, as a user at a terminal would.

    ptydrive.py STEPS COMMAND [ARG...]

STEPS is one step a line:
    expect REGEX   wait (at most 30 s) until the output since the last expect matches
    send TEXT      type TEXT (Python escapes: \\r, \\x10 for ctrl-p ...)
    raw            wait (at most 30 s) until the command has put the terminal in raw mode:
                   what is typed before would be echoed and edited by the local terminal
    exit           wait (at most 30 s) for the command to end
    resize R C     make the terminal R rows by C columns (the command gets SIGWINCH)
At the end the whole output goes to stdout and the status is the command's (exit), or 0 when it
still runs (it is then left running), or 124 when a step timed out (said on stderr)."""
import fcntl, os, pty, re, select, struct, sys, termios, time

def main():
    steps = [l for l in sys.argv[1].splitlines() if l.strip()]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    out = b""
    mark = 0
    status = None

    def pump(timeout):
        nonlocal out
        r, _, _ = select.select([fd], [], [], timeout)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            out += data
        return True

    def done():
        nonlocal status
        if status is None:
            p, st = os.waitpid(pid, os.WNOHANG)
            if p == pid:
                status = os.waitstatus_to_exitcode(st)
        return status is not None

    for step in steps:
        verb, _, arg = step.partition(" ")
        deadline = time.time() + 30
        if verb == "send":
            os.write(fd, arg.encode().decode("unicode_escape").encode("latin-1"))
        elif verb == "expect":
            rx = re.compile(arg.encode())
            while True:
                m = rx.search(out, mark)
                if m:
                    mark = m.end()
                    break
                if time.time() > deadline or (not pump(0.2) and done()):
                    sys.stdout.write(out.decode(errors="replace"))
                    sys.stderr.write("ptydrive: no %r in the output\n" % arg)
                    sys.exit(124)
        elif verb == "resize":
            rows, cols = (int(x) for x in arg.split())
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        elif verb == "raw":
            while termios.tcgetattr(fd)[3] & termios.ICANON:
                pump(0.05)
                if time.time() > deadline or done():
                    sys.stdout.write(out.decode(errors="replace"))
                    sys.stderr.write("ptydrive: the terminal did not go raw\n")
                    sys.exit(124)
        elif verb == "exit":
            while not done():
                pump(0.1)
                if time.time() > deadline:
                    sys.stdout.write(out.decode(errors="replace"))
                    sys.stderr.write("ptydrive: the command did not end\n")
                    sys.exit(124)
            while pump(0.1):
                pass
        else:
            sys.exit("ptydrive: unknown step " + step)
    sys.stdout.write(out.decode(errors="replace"))
    sys.exit(status if status is not None and status >= 0 else (128 - status if status else 0))

main()
