"""Execution on the simulated CPUs: contexts that run kernel code and spend CPU time.

Each CPU runs one *context* at a time. A context is a coroutine (a
``greenlet``) executing plain Python kernel code, so driver and stack
functions keep their Linux shapes; it is suspended inside ordinary calls
when it spends time, waits for a lock, or sleeps:

* **Kinds.** A *task* (process context: a program's system calls, a
  kworker, ksoftirqd) and a *hardirq* (an interrupt handler, whose exit may
  run softirqs on the same stack, as ``irq_exit`` does in Linux). Softirqs
  are not contexts of their own: they run on the stack of whatever invoked
  them (interrupt exit, ``local_bh_enable``, ksoftirqd), exactly as in
  ``kernel/softirq.c``; the CPU's accounting name says which one runs.
* **Time.** Kernel code charges its cost to the CPU (:meth:`Cpu.charge
  <sim.host.cpu.Cpu.charge>`); the charge is *owed* until the next point
  where the context touches something another agent can observe (shared
  memory, a device, a lock, a softirq, the clock), where :meth:`CpuRun.settle`
  spends it: the context stays on the CPU, busy, for that long. Code between
  two such points is invisible to everyone else, so running it at once and
  spending its time at the next point is exact.
* **Preemption.** An interrupt preempts whatever runs on its CPU (task,
  softirq) unless interrupts are disabled there (``local_irq_save``,
  ``spin_lock_irqsave``, a hardirq handler itself), in which case it stays
  pending until they are enabled again. The preempted context's remaining
  busy time resumes after the handler (and the softirqs at its exit), so
  its duration includes theirs. Interrupts never nest.
* **Tasks.** Runnable tasks wait in a FIFO per CPU; a task keeps the CPU
  until it sleeps or gives it up at a reschedule point
  (:meth:`CpuRun.cond_resched`: the model's programs call it when a system
  call returns, where Linux checks ``need_resched``). That is a simple,
  documented stand-in for CFS: no time slices and no wake-up preemption.
* **Spinning.** A context that waits for a spinlock held elsewhere stays on
  its CPU, busy (:meth:`CpuRun.spin`); the lock is handed over in ticket
  (FIFO) order. Spinning on a lock held by a context on the *same* CPU is a
  deadlock in Linux and raises :class:`Deadlock` here.
* **Accounting.** Every stretch of simulated time on a CPU is added to one
  accounting name (``task:<comm>``, ``user:<comm>``, ``softirq:<NAME>``,
  ``hardirq:<name>``, or ``idle``), in ``cpu.account``, so the names of a
  CPU always sum to the elapsed time (:meth:`Sched.flush_accounts`).

The engine runs in the *hub* (the greenlet that calls ``engine.run``, or
cocotb's scheduler): only the hub switches into contexts, and a context
only switches back to the hub, so each engine callback that resumes a
context returns once that context blocks again.

Code may also run *synchronously*, outside any context (a test calling a
stack function directly, inside ``on_cpu``): then charges stay owed and
are taken by the caller with ``cpu.settle()``, nothing is preempted, and a
lock that is held cannot be waited for (:class:`Deadlock`).
"""
from __future__ import annotations

from collections import deque

from greenlet import getcurrent, greenlet

from sim.engine.events import FIRED, Failure

from .cpu import Cpu

__all__ = ["HARDIRQ", "TASK", "Context", "CpuRun", "Deadlock", "Sched"]

TASK, HARDIRQ = 0, 1
_SLEPT = object()      # a context left its CPU (sleep or end)
_BLOCKED = object()    # a context waits on its CPU (a busy stretch or a spin)


def _inline(item) -> bool:
    """May this engine item run while a busy CPU skips ahead? A drain step or a cancelled call: yes
    (they call back into no context); anything else may interrupt or wake someone: no."""
    return getattr(getattr(item, "fn", None), "__func__", None) is Cpu._drain_step or getattr(item, "cancelled", False)


class Deadlock(RuntimeError):
    """A wait that can never end: a spinlock held on the waiter's own CPU, or a sync-mode wait."""


class Context:
    """One execution context on one CPU: a greenlet, its accounting name, its pending wake-up."""

    __slots__ = ("acct", "call", "done", "end", "exc", "glet", "kind", "left", "name", "run",
                 "spin_start", "spinning", "value")

    def __init__(self, run: CpuRun, kind: int, name: str):
        self.run = run
        self.kind = kind
        self.name = name
        #: The accounting name it resumes with (a softirq it was running, ``user:`` time...).
        self.acct = name
        self.glet: greenlet | None = None
        self.call = None       # the engine call that ends the current busy stretch
        self.end = 0           # when that stretch ends
        self.left = None       # busy time still owed when preempted (None: not in a stretch)
        self.spinning = None   # the lock it spins on
        self.spin_start = 0    # when its current spell of spinning began
        self.value = None      # what a sleeping task is woken with
        self.exc = None
        self.done = None       # a task's completion Event

    # An Event resumes its waiters with _resume/_throw: a sleeping task waits this way.
    def _resume(self, value) -> None:
        self.run.wake(self, value)

    def _throw(self, exc: BaseException) -> None:
        self.run.wake(self, None, exc)

    def __repr__(self) -> str:
        return f"<Context {self.name} on cpu{self.run.index}>"


class CpuRun:
    """What one CPU is executing: the current context, those it preempted, runnable tasks, masks."""

    def __init__(self, sched: Sched, cpu):
        self.sched = sched
        self.cpu = cpu
        self.index = cpu.index
        self.engine = sched.engine
        self.current: Context | None = None
        self.preempted: list[Context] = []
        self.runq: deque[Context] = deque()
        #: local_irq_save depth (a hardirq handler runs with 1).
        self.irqs_off = 0
        #: preempt_count parts: local_bh_disable depth, serving-softirq depth, hardirq depth.
        self.bh_off = 0
        self.softirq = 0
        self.hardirq = 0
        self.pending_irqs: list = []
        self.since = 0
        self.spin_ps = 0
        self.preemptions = 0
        self.irqs_taken = 0
        cpu.context = "idle"
        cpu.run = self

    # --- state tests (Linux's preempt_count predicates) ---------------------------------
    def in_interrupt(self) -> bool:
        """Hardirq, serving a softirq, or bottom halves disabled (Linux ``in_interrupt()``)."""
        return bool(self.hardirq or self.softirq or self.bh_off)

    # --- accounting ---------------------------------------------------------------------
    def _account(self) -> None:
        now = self.engine.now
        cpu = self.cpu
        cpu.account[cpu.context] += now - self.since
        self.since = now

    def set_name(self, name: str) -> str:
        """Charge what follows to ``name`` (spending what is owed first); the previous name."""
        cpu = self.cpu
        if cpu.owed_ps:
            self.settle()
        prev = cpu.context
        if name != prev:
            self._account()
            cpu.context = name
        return prev

    # --- spending time --------------------------------------------------------------------
    def settle(self) -> None:
        """Spend the CPU time owed: stay busy on this CPU that long (preemptible by interrupts)."""
        cpu = self.cpu
        ps = cpu.owed_ps
        cpu.owed_ps = 0
        ctx = self.sched.running
        if ctx is None or ctx.run is not self:
            cpu.owed_ps = ps   # synchronous caller: it takes the time itself (cpu.settle())
            return
        engine = self.engine
        end = engine.now + ps
        if not cpu.interleave and engine.skip_to(end, _inline):
            return   # nothing else is due meanwhile: the same run, without the round trip to the engine
        self._wait(end - engine.now)   # (drains run on the way may have moved now)

    def _stretch_done(self, ctx: Context) -> None:
        ctx.call = None
        self.sched.switch_in(ctx)

    # --- interrupts -------------------------------------------------------------------------
    def interrupt(self, name: str, handler, *args) -> None:
        """An interrupt for this CPU: run ``handler(*args)`` in a hardirq context, now or when enabled."""
        sched = self.sched
        if sched.running is not None:   # raised from inside a context: taken at its next wait
            self.engine.call_later(0, self.interrupt, name, handler, *args)
            return
        if self.irqs_off:
            self.pending_irqs.append((name, handler, args))
            return
        cur = self.current
        if cur is not None:
            self._preempt(cur)
        ctx = Context(self, HARDIRQ, "hardirq:" + name)
        ctx.glet = greenlet(self._irq_main, parent=sched.hub)
        self.irqs_taken += 1
        sched.switch_in(ctx, handler, args)

    def _preempt(self, cur: Context) -> None:
        if cur.call is not None:
            cur.call.cancel()
            cur.call = None
            cur.left = cur.end - self.engine.now
        elif cur.spinning is not None:   # a preempted spinner does not spin meanwhile
            self.spin_ps += self.engine.now - cur.spin_start
        cur.acct = self.cpu.context
        self.preemptions += 1
        self.preempted.append(cur)
        self.current = None

    def _irq_main(self, handler, args) -> None:
        """The hardirq context: handler with interrupts off, then ``irq_exit`` (maybe softirqs)."""
        self.hardirq += 1
        self.irqs_off += 1
        try:
            handler(*args)
            if self.cpu.owed_ps:
                self.settle()
        finally:
            self.hardirq -= 1
        self.local_irq_enable()
        hook = self.sched.irq_exit
        if hook is not None and not self.in_interrupt():
            hook(self)
        if self.cpu.owed_ps:
            self.settle()

    def local_irq_disable(self) -> None:
        """Mask interrupts on this CPU (nests: ``local_irq_save``)."""
        if self.cpu.owed_ps:
            self.settle()
        self.irqs_off += 1

    def local_irq_enable(self) -> None:
        """Unmask (``local_irq_restore``); interrupts that came meanwhile are taken now."""
        if self.irqs_off <= 0:
            raise RuntimeError(f"cpu{self.index}: local_irq_restore without local_irq_save")
        if self.irqs_off == 1 and self.cpu.owed_ps:
            self.settle()   # the masked section's time passes with interrupts still masked
        self.irqs_off -= 1
        if not self.irqs_off and self.pending_irqs:
            pending, self.pending_irqs = self.pending_irqs, []
            for name, handler, args in pending:
                self.engine.call_later(0, self.interrupt, name, handler, *args)
            if self.sched.running is not None and self.sched.running.run is self:
                self._wait(0)   # let them in before the next instruction

    def access_point(self) -> None:
        """An interleaving point (exploration): a 0-time wait, so other same-time work may go first."""
        ctx = self.sched.running
        if ctx is not None and ctx.run is self:
            ps, self.cpu.owed_ps = self.cpu.owed_ps, 0
            self._wait(ps)

    def _wait(self, ps: int) -> None:
        ctx = self.sched.running
        ctx.end = self.engine.now + ps
        ctx.call = self.engine.call_later(ps, self._stretch_done, ctx)
        self.sched.hub.switch(_BLOCKED)

    # --- spinning ------------------------------------------------------------------------------
    def spin(self, lock) -> None:
        """Busy-wait on this CPU until ``lock`` is handed to the running context."""
        ctx = self.sched.running
        if ctx is None:
            raise Deadlock(f"{lock.name} is held by {lock.owner!r}; a synchronous caller cannot wait")
        owner = lock.owner
        if owner is ctx or (isinstance(owner, Context) and owner.run is self):
            raise Deadlock(f"cpu{self.index}: {ctx.name} spins on {lock.name}, held by {owner.name} on the "
                           "same CPU (take the lock with interrupts or bottom halves disabled)")
        ctx.spin_start = self.engine.now   # (the caller spent its owed time before it found the lock held)
        ctx.spinning = lock
        lock.waiters.append(ctx)
        self.sched.hub.switch(_BLOCKED)
        self.spin_ps += self.engine.now - ctx.spin_start

    def granted(self, ctx: Context) -> None:
        """``ctx`` got the lock it spins on: it goes on at once if it is on its CPU."""
        ctx.spinning = None
        if self.current is ctx:
            ctx.call = self.engine.call_later(0, self._stretch_done, ctx)
            ctx.end = self.engine.now

    # --- tasks ---------------------------------------------------------------------------------
    def sleep(self, item):
        """The running task waits for ``item`` (a delay in ps, or an Event) off the CPU; the wake value."""
        sched = self.sched
        ctx = sched.running
        if ctx is None or ctx.kind != TASK:
            raise RuntimeError(f"cpu{self.index}: only a task can sleep (BUG: scheduling while atomic)")
        if self.irqs_off or self.bh_off or self.softirq:
            raise RuntimeError(f"BUG: scheduling while atomic: {ctx.name} sleeps with interrupts or bottom "
                               "halves disabled")
        if self.cpu.owed_ps:
            self.settle()
        if item.__class__ is int:
            if item < 0:
                raise ValueError(f"{ctx.name} sleeps a negative time {item}")
            self.engine.call_later(item, self.wake, ctx, None)
        else:
            w = item.waiter
            if w is FIRED:
                v = item.value
                if v.__class__ is Failure:
                    v.handled = True
                    raise v.exc
                return v
            item._add_waiter(ctx)
        ctx.value = ctx.exc = None
        ctx.acct = self.cpu.context
        sched.hub.switch(_SLEPT)
        if ctx.exc is not None:
            exc, ctx.exc = ctx.exc, None
            raise exc
        return ctx.value

    def wake(self, ctx: Context, value=None, exc: BaseException | None = None) -> None:
        """Make a sleeping task runnable with ``value`` (or ``exc``); it runs when the CPU is free."""
        ctx.value, ctx.exc = value, exc
        self.runq.append(ctx)
        if self.current is None and not self.preempted:
            if self.sched.running is None:
                self.dispatch()
            else:   # woken from inside a context (an engine that resumes waiters at once)
                self.engine.call_later(0, self._kick)

    def _kick(self) -> None:
        if self.current is None and not self.preempted and self.sched.running is None:
            self.dispatch()

    def cond_resched(self) -> None:
        """A reschedule point: if other tasks are runnable here, go behind them."""
        ctx = self.sched.running
        if (self.runq and ctx is not None and ctx.kind == TASK and not self.irqs_off and not self.in_interrupt()):
            if self.cpu.owed_ps:
                self.settle()
            ctx.acct = self.cpu.context
            self.runq.append(ctx)
            self.sched.hub.switch(_SLEPT)

    def dispatch(self) -> None:
        """The CPU is free: resume what was preempted, else the next runnable task, else idle."""
        while self.current is None:
            if self.preempted:
                ctx = self.preempted.pop()
                self.current = ctx
                self._set_account(ctx.acct)
                ctx.spin_start = self.engine.now
                if ctx.left is not None:
                    ctx.end = self.engine.now + ctx.left
                    ctx.call = self.engine.call_later(ctx.left, self._stretch_done, ctx)
                    ctx.left = None
                elif ctx.spinning is None:   # it was granted its lock while preempted
                    ctx.call = self.engine.call_later(0, self._stretch_done, ctx)
                return
            if self.runq:
                self.sched.run_until_blocked(self.runq.popleft())
                continue
            self._set_account("idle")
            return

    def _set_account(self, name: str) -> None:
        if self.cpu.context != name:
            self._account()
            self.cpu.context = name

    def start_task(self, comm: str, body, *args) -> Context:
        """A new task running ``body(*args)``; runnable now. Its ``done`` Event fires with the result."""
        ctx = Context(self, TASK, "task:" + comm)
        ctx.done = self.engine.event(comm)
        ctx.glet = greenlet(self._task_main, parent=self.sched.hub)
        self.wake(ctx, (body, args))
        return ctx

    def _task_main(self) -> None:
        ctx = self.sched.running
        body, args = ctx.value
        try:
            result = body(*args)
        except BaseException as exc:   # the task died: its done event fails (the engine reports it)
            self.cpu.owed_ps = 0
            ctx.done.fail(exc)
            return
        if self.cpu.owed_ps:
            self.settle()
        ctx.done.succeed(result)

    def __repr__(self) -> str:
        cur = self.current.name if self.current else "idle"
        return f"<CpuRun cpu{self.index} {cur} preempted={len(self.preempted)} runq={len(self.runq)}>"


class Sched:
    """The execution state of every CPU of a host (see the module docstring)."""

    def __init__(self, engine, cpus):
        self.engine = engine
        self.hub = getcurrent()
        self.cpus = [CpuRun(self, c) for c in cpus]
        #: The context whose code is executing now (None: the hub, i.e. engine callbacks or a test).
        self.running: Context | None = None
        #: Objects with a ``cpu`` attribute kept equal to the running context's CPU (the kernel's
        #: ``smp_processor_id()``): stack.core.context.CpuContext registers itself.
        self.holders: list = []
        #: Called in a hardirq context at interrupt exit (the softirq layer installs ``irq_exit``).
        self.irq_exit = None
        self._interleave = False
        for c in cpus:
            c.sched = self

    @property
    def interleave(self) -> bool:
        """Every shared-memory access is an interleaving point (a 0-time wait, so the engine's
        choice of same-time order decides who goes next). Off by default; on for exploration."""
        return self._interleave

    @interleave.setter
    def interleave(self, on: bool) -> None:
        self._interleave = bool(on)
        for run in self.cpus:
            run.cpu.interleave = self._interleave

    def switch_in(self, ctx: Context, *args) -> None:
        """Run ``ctx`` (from the hub) until it waits, sleeps or ends; then let its CPU go on if it left."""
        if self.run_until_blocked(ctx, *args):
            ctx.run.dispatch()

    def run_until_blocked(self, ctx: Context, *args) -> bool:
        """Run ``ctx`` (from the hub) until it waits, sleeps or ends; True if it left its CPU."""
        if self.running is not None:
            raise RuntimeError(f"switch_in({ctx!r}) from inside {self.running!r}")
        run = ctx.run
        if run.current is not ctx:   # coming onto the CPU (not back from a busy stretch)
            run.current = ctx
            run._set_account(ctx.acct)
        cpu = run.cpu
        holders = self.holders
        outside = [h.cpu for h in holders]
        for h in holders:
            h.cpu = cpu
        self.running = ctx
        try:
            msg = ctx.glet.switch(*args) if args else ctx.glet.switch()
        except BaseException:   # the context died (a kernel bug report, a model error): its CPU stops here
            run.current = None
            raise
        finally:
            self.running = None
            for h, c in zip(holders, outside):   # the hub keeps its own (synchronous callers') CPU
                h.cpu = c
        if msg is _BLOCKED:
            return False
        # it slept, gave up the CPU, or ended
        if run.current is ctx:
            run.current = None
            if ctx.glet.dead:
                ctx.glet = None
            return True
        return False

    def flush_accounts(self) -> None:
        """Bring every CPU's accounting up to now (before reading ``cpu.account``)."""
        for run in self.cpus:
            run._account()
