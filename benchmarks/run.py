"""Run the circuitlearn benchmark suite and write the markdown report.

    python benchmarks/run.py            # full run (about 10 minutes on 2 cores), prints the report
    python benchmarks/run.py --quick    # under a minute
    python benchmarks/run.py --out docs/performance-table.md

The same as ``circuitlearn bench [--quick]`` and ``python -m circuitlearn.bench``; the logic
lives in ``circuitlearn.bench`` so that the installed package can run it.
"""

from circuitlearn.bench import main

if __name__ == "__main__":
    main()
