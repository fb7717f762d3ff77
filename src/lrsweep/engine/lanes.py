"""The lanes' building blocks that both compiled kernels share.

:mod:`lrsweep.engine.kernel` (one coordinate per lane) and
:mod:`lrsweep.engine.kernel_features` (``p`` coordinates per lane) step
blocks of lanes with the same per-lane state buffer: its field offsets, the
status codes and output rows compiled in as constants, the ``alloca``'d
buffer, the 512-bit vector attribute, the ``select`` intrinsic and the
last-epoch statistics. Plain numba code on plain arrays; importing it
compiles nothing.

numba's on-disk cache (``cache=True``) checks only the source file of the
function it caches: a compiled kernel that inlines a helper from this file
would not be recompiled after the helper changed. Each kernel module
therefore holds ``LANES_SHA256``, the SHA-256 of this file, and
``tests/test_kernel.py`` fails until both are updated: editing them is what
makes numba recompile the kernels.
"""

from __future__ import annotations

from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..metrics import FLOAT_FIELDS, INT_FIELDS, Status
from ..metrics import MAX_BOUND as _MAX_BOUND
from .layout import BLOCK_LANES

# Status codes and output rows, compiled in as constants; defined once in
# lrsweep.metrics (Status, FLOAT_FIELDS, INT_FIELDS).
CONVERGED = int(Status.CONVERGED)
SLOW = int(Status.SLOW)
OSCILLATING = int(Status.OSCILLATING)
DIVERGED = int(Status.DIVERGED)
NOISE_FLOOR = int(Status.NOISE_FLOOR)
GROWING = int(Status.GROWING)
F_THETA = FLOAT_FIELDS.index("theta_final")
F_MAX_ABS_ERROR = FLOAT_FIELDS.index("max_abs_error")
F_MAX_JUMP = FLOAT_FIELDS.index("max_jump")
F_LOSS_ZIGZAG = FLOAT_FIELDS.index("loss_zigzag")
F_LOSS_LAST = FLOAT_FIELDS.index("loss_last_epoch")
F_GROWTH = FLOAT_FIELDS.index("growth_rate")
F_RMS_LAST = FLOAT_FIELDS.index("rms_error_last_epoch")
I_STATUS = INT_FIELDS.index("status")
I_CONVERGED = INT_FIELDS.index("converged_step")
I_DIVERGED = INT_FIELDS.index("diverged_step")
I_SIGN = INT_FIELDS.index("sign_changes")
I_SIGN_LAST = INT_FIELDS.index("sign_changes_last_epoch")
I_MAX_ABS_STEP = INT_FIELDS.index("max_abs_error_step")
I_MAX_JUMP_STEP = INT_FIELDS.index("max_jump_step")
I_MAX_JUMP_SAMPLE = INT_FIELDS.index("max_jump_sample")

#: The divergence bound's cap, defined with the metrics (``lrsweep.metrics.MAX_BOUND``).
MAX_BOUND = _MAX_BOUND

# Per-lane state lives in one flat buffer, field-major with a compile-time
# stride of BLOCK_LANES: field f of lane j is f[f * BLOCK_LANES + j]. With one
# buffer and constant distances between fields, LLVM proves the lane loop free
# of aliasing and vectorises it (with ~25 separate arrays it gave up: "too many
# memory checks needed").
#: The field constants below are offsets (field number * BLOCK_LANES): one
#: ``f[_TH + j]`` per access instead of ``f[field * B + j]``, a third less numba
#: IR to type and lower in each inlined copy of the lane loop (first compile).
(_TH, _LR, _BOUND, _FLOOR, _THR, _REF, _MAE, _MJ, _EXITERR, _LSUM, _LPREV, _DPREV, _ESTART,
 _LREC, _E2SUM) = range(0, 15 * BLOCK_LANES, BLOCK_LANES)
# Counters and step numbers are kept as float64 in the same buffer (exact below
# 2**53 steps): one underlying object means no runtime alias checks at all.
# "Alive" is _DIV < 0 (no separate flag), and the sample of the largest jump is
# derived at the end from its step (no per-step store).
(_DIV, _MAESTEP, _MJSTEP, _LASTVIOL, _SC, _SCLAST, _ZIG, _EXITSTEP) = range(
    15 * BLOCK_LANES, 23 * BLOCK_LANES, BLOCK_LANES)
# The optimizer's fields: velocity, momentum, Nesterov (1.0 or 0.0), and a
# batch's gradient and loss sums (only the variants with these features use them).
(_V, _BETA, _NEST, _GACC, _LACC) = range(23 * BLOCK_LANES, 28 * BLOCK_LANES, BLOCK_LANES)
N_STATE = 28


@intrinsic
def _state_buffer(typingctx):
    """A pointer to ``N_STATE * BLOCK_LANES`` float64 on the stack (uninitialised).

    An ``alloca`` in the function's entry block, not a heap array: LLVM then
    knows that the buffer aliases nothing else (x, y, the outputs), which
    measured 1.3-1.6x faster than ``np.zeros`` for the same lane loop.
    """
    sig = types.CPointer(types.float64)()

    def codegen(context, builder, signature, args):
        dbl = context.get_value_type(types.float64)
        buf = cgutils.alloca_once(builder, dbl, size=N_STATE * BLOCK_LANES)
        buf.align = 64  # whole zmm vectors never straddle a cache line
        return buf

    return sig, codegen


@intrinsic
def _prefer_512bit_vectors(typingctx):
    """Let LLVM vectorise the calling function with 512-bit (zmm) registers.

    LLVM's default for this CPU family (Skylake-X .. Sapphire Rapids) is
    ``prefer-vector-width=256``: AVX-512 instructions on ymm registers. These
    two *function* attributes (what clang's ``-mprefer-vector-width=512``
    sets) apply to the calling function only, so no global LLVM option or
    numba setting changes for the user's code, and they are part of the
    cached machine code (``cache=True``). On CPUs without AVX-512 they have
    no effect. The caller is also marked ``noinline``: inlined into a caller
    without the attributes, its loops would be vectorised at 256 bits again.
    """
    sig = types.void()

    def codegen(context, builder, signature, args):
        attrs = builder.function.attributes
        # llvmlite's FunctionAttributes (a set) only accepts enum attributes;
        # string attributes are added to the underlying set and written
        # verbatim into the IR (llvmlite 0.4x-0.50). If that ever changes, the
        # kernel silently keeps LLVM's default vector width.
        if isinstance(attrs, set):
            set.add(attrs, '"prefer-vector-width"="512"')
            set.add(attrs, '"min-legal-vector-width"="512"')
            if "alwaysinline" not in attrs:
                attrs.add("noinline")
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _sel(typingctx, c, a, b):
    """``a if c else b`` as one LLVM ``select`` (both operands are evaluated).

    The lane loops need selects anyway (see :func:`_step`); LLVM turns
    numba's ternary (a branch, two blocks and a phi) into the same select.
    Written as an intrinsic, each select is one call in numba's IR instead of
    three blocks: a smaller function to type, lower and optimise at the
    first compile (the lane loop is inlined six times), same machine code.
    """
    if not (isinstance(c, types.Boolean) and a == b):
        return None
    sig = a(c, a, b)

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return sig, codegen


@njit(inline="always", error_model="numpy")
def _last_epoch(f, j, ok, flip, loss, en, zig_ok):  # pragma: no cover - compiled
    """The last-epoch statistics of lane ``j`` (after its step; ``loss`` the step's loss)."""
    scl = f[_SCLAST + j]
    f[_SCLAST + j] = _sel(flip, scl + 1.0, scl)
    f[_LSUM + j] += _sel(ok, loss, 0.0)
    f[_E2SUM + j] += _sel(ok, en * en, 0.0)
    d = loss - f[_LPREV + j]
    zig = f[_ZIG + j]
    f[_ZIG + j] = _sel(ok & zig_ok & (d * f[_DPREV + j] < 0.0), zig + 1.0, zig)
    f[_DPREV + j] = d
    f[_LPREV + j] = loss
