"""The numeric engine: chunks of the grid through the numba kernel, bit for bit.

Everything that runs compiled code or lays out its plain arrays lives here;
nothing compiles at import (the first call compiles, ``cache=True`` stores
it), and importing this package itself imports no numba.

=================  ===========================================================
module             its one job
=================  ===========================================================
``layout``         the engine's contract: block constants (lanes per block and
                   per vector, tile rows), the block plan of a chunk, and
                   :class:`~lrsweep.engine.layout.ChunkResult`, the named
                   record of a finished chunk
``kernel``         the numba kernel: SGD steps and every metric in one pass
``generators``     NumPy's SeedSequence, PCG64, normal, permutation and
                   integer draws ported to numba (the ``gaussian`` datasets
                   and sample orders of a chunk)
``reductions``     NumPy's ``mean`` and BLAS ``dot`` over many datasets
``chunkdata``      the datasets and sample orders of one chunk as plain arrays
``threads``        the thread pool and the piece-taking loop
``chunk``          one chunk laid out, run and collected (``run_chunk``)
=================  ===========================================================
"""
