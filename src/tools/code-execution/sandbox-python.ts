/**
 * Python half of the sandbox, run once by each child before it is ready.
 *
 * `__oi_run(code)` runs one program in a fresh namespace and leaves `__oi_status` (exit status)
 * and `__oi_traceback` (traceback starting at the program's own frames, or None) in the globals;
 * it returns None, so nothing has to be converted to JavaScript while the program's bridge guard
 * is up (see sandbox-child.ts).
 *
 * `__oi_lockdown(close_ffi)` makes stdout/stderr write-through (so output printed before a
 * time-out is kept) and makes process-starting functions fail. With `close_ffi` it also forgets
 * the modules that reach into JavaScript (`js`, `pyodide_js`, `pyodide.ffi`, `pyodide.code`'s
 * `run_js`, `_pyodide_core`, …), refuses to import them again and stops `gc` from listing
 * objects (the usual way back to a forgotten module). That part is defence in depth with a clear
 * `ImportError`: the child's guard on the JS bridge and the process limits hold without it.
 */
export const SETUP_PYTHON = String.raw`
import builtins as _oi_builtins
import os as _oi_os
import sys as _oi_sys
import traceback as _oi_traceback

_OI_TRACEBACK_LIMIT = 8000
__oi_status = 0
__oi_traceback = None


def __oi_run(code):
    global __oi_status, __oi_traceback
    namespace = {"__name__": "__main__", "__builtins__": _oi_builtins}
    status = 0
    text = None
    try:
        exec(compile(code, "<code>", "exec"), namespace)
    except SystemExit as exit:
        value = exit.code
        if value is None or value is False or value == 0:
            status = 0
        elif isinstance(value, int):
            status = value
        else:
            text = str(value) + "\n"
            status = 1
    except BaseException as error:
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "<code>":
            tb = tb.tb_next
        try:
            text = "".join(_oi_traceback.format_exception(type(error), error, tb))
        except BaseException:
            text = type(error).__name__ + "\n"
        status = 1
    finally:
        for stream in (_oi_sys.stdout, _oi_sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
    if text is not None and len(text) > _OI_TRACEBACK_LIMIT:
        text = "...\n" + text[-_OI_TRACEBACK_LIMIT:]
    __oi_status = status
    __oi_traceback = text


def __oi_lockdown(close_ffi):
    for stream in (_oi_sys.stdout, _oi_sys.stderr):
        try:
            stream.reconfigure(write_through=True)
        except Exception:
            pass

    def _no_processes(*args, **kwargs):
        raise OSError("starting processes is not available in the sandbox")

    for name in ("system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp", "kill",
                 "killpg", "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp",
                 "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve",
                 "spawnvp", "spawnvpe"):
        if hasattr(_oi_os, name):
            setattr(_oi_os, name, _no_processes)

    if not close_ffi:
        return

    blocked = ("js", "pyodide_js", "pyodide", "_pyodide", "_pyodide_core", "pyodide_http", "micropip")

    def is_blocked(name):
        return name.split(".")[0] in blocked

    for name in list(_oi_sys.modules):
        if is_blocked(name):
            del _oi_sys.modules[name]

    class _Blocked:
        def find_spec(self, name, path=None, target=None):
            if is_blocked(name):
                raise ImportError(f"module {name!r} is not available in the sandbox", name=name)
            return None

    _oi_sys.meta_path.insert(0, _Blocked())
    _oi_sys.path_importer_cache.clear()

    import gc

    def _no_listing(*args, **kwargs):
        raise RuntimeError("listing objects is not available in the sandbox")

    for name in ("get_objects", "get_referrers", "get_referents"):
        setattr(gc, name, _no_listing)
`;
