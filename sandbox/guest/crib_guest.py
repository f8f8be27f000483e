"""Guest bootstrap: runs one job (a snippet or an agent) and reports its result on the channel.

Trusted code that runs first inside the sandbox, before anything untrusted: the child that
the fork-server (snippet tier) or a slot's zygote (agent tier) forks for a run calls `run_job`
once it is confined. The job arrives as an inherited memfd on fd 4 (no files on disk):
a marshal dump of {"code", "request", "files"}, written by the host."""
from __future__ import annotations

import _signal
import builtins
import marshal
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # run as a script with -I: its own directory is not on sys.path
    sys.path.insert(0, _HERE)
import crib_json as json  # noqa: E402

VALUE_CAP = 1 << 20  # bytes of JSON for the returned value


JOB_FD = 4


def _write_files(files: dict) -> None:
    """The host's input files into the scratch dir (the host checked the names)."""
    for name, content in files.items():
        parent = os.path.dirname(name)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(name, "wb") as f:
            f.write(content)


def _read_job(fd: int) -> dict:
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0)
    os.close(fd)
    return marshal.loads(data)  # written by the host: trusted, and cheaper than json here


def _call_entry(fn: object, inputs: object) -> object:
    if not callable(fn):  # the model's code bound the entry name to a value
        raise TypeError(f"'{type(fn).__name__}' object is not callable")
    if inputs is None:
        return fn()
    if isinstance(inputs, dict):
        return fn(**inputs)
    if isinstance(inputs, list):
        return fn(*inputs)
    return fn(inputs)


def _run_agent(code: str, path: str, req: dict) -> object:
    """One API: the agent's code defines `forward(task)` (ADAS agents arrive already adapted)."""
    import crib_runtime as rt

    rt.task, rt.answer_format, rt.cheatsheet = (
        req.get("task") or "", req.get("answer_format") or "", req.get("cheatsheet") or "")
    ns = rt.agent_globals()
    exec(compile(code, path, "exec"), ns)
    forward = ns.get("forward")
    if not callable(forward):
        raise NameError("the agent code defines no forward(task) function")
    result = forward(rt.task)
    if isinstance(result, rt.Info):
        result = result.content
    return result


def _print_traceback(e: BaseException, code: str, code_path: str) -> None:
    """The job's traceback as its author needs it (a model reads it to repair its code): the
    job's own source lines shown, and none of the guest's frames, whose host paths say
    nothing about the job."""
    import linecache
    import traceback

    linecache.cache[code_path] = (len(code), None, code.splitlines(True), code_path)
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    traceback.print_exception(type(e), e, tb)


def _encode_value(value: object) -> tuple[object, str | None]:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:VALUE_CAP], f"the return value is not JSON; got {type(value).__name__}"
    if len(text) > VALUE_CAP:
        return None, f"the return value is too large ({len(text)} bytes of JSON > {VALUE_CAP})"
    return value, None


def rehearse(env: dict[str, str]) -> None:
    """Walk a run's path once, running nothing of anyone's, in a warm child that waits for its
    request: a forked process pays a page fault for each shared page it first writes (every
    object it touches, through reference counts and the interpreter's inline caches), and
    this pays most of them before the run starts instead of during it."""
    import resource

    import crib_channel  # noqa: F401 - every run's report uses it

    os.environ.clear()
    os.environ.update(env)
    job = marshal.loads(marshal.dumps({"code": "x = 1\n",
                                       "request": {"mode": "snippet", "entry": None}}))
    exec(compile(job["code"], "main.py", "exec"),
         {"__name__": "__main__", "__builtins__": builtins})
    value, _ = _encode_value({"value": [1, "a", 1.5, None, True]})
    ru = resource.getrusage(resource.RUSAGE_SELF)
    json.dumps({"method": "result", "params": {"value": value, "error": None, "error_type": None,
                "exit_code": 0, "cpu_ms": ru.ru_utime * 1000.0, "maxrss_kb": ru.ru_maxrss}},
               default=repr)


def run_job(job_fd: int = JOB_FD) -> int:
    """Run the job read from `job_fd` in this process; returns the exit code to use."""
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_IGN)  # a full file raises EFBIG instead of killing
    job = _read_job(job_fd)
    req, code, code_path = job["request"], job["code"], "main.py"
    if job.get("files"):
        _write_files(job["files"])
    if req.get("skills"):  # the promoted skills, importable as `skills` (only when sent)
        import crib_skills

        crib_skills.install(req["skills"])
    sys.argv = ["main.py"]
    value, error, error_type, exit_code = None, None, None, 0
    try:
        if req.get("mode") == "agent":
            value = _run_agent(code, code_path, req)
        else:
            ns: dict[str, object] = {"__name__": "__main__", "__builtins__": builtins,
                                  "__file__": code_path}
            exec(compile(code, code_path, "exec"), ns)
            if req.get("entry"):
                value = _call_entry(ns[req["entry"]], req.get("inputs"))
    except SystemExit as e:
        exit_code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # noqa: BLE001 - everything the guest raises is reported
        error_type, error = type(e).__name__, f"{type(e).__name__}: {e}"
        _print_traceback(e, code, code_path)
        exit_code = 1
    value, value_error = _encode_value(value)
    if value_error and not error:
        error, error_type, exit_code = value_error, "ValueError", 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    try:
        import resource

        from crib_channel import RPC_FD, channel

        ru = resource.getrusage(resource.RUSAGE_SELF)
        channel().notify("result", {"value": value, "error": error, "error_type": error_type,
                                    "exit_code": exit_code,
                                    "cpu_ms": (ru.ru_utime + ru.ru_stime) * 1000.0,
                                    "maxrss_kb": ru.ru_maxrss})
        # Closing the channel tells the host the run is over: it need not wait for this
        # process's teardown (unmapping a numpy-sized address space takes milliseconds).
        os.close(RPC_FD)
    except Exception:  # noqa: BLE001 - the host then reports a missing result
        pass
    return exit_code
