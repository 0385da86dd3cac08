"""The course's benchmarks, a package of functions run as modules from the repository root.

``python -m bench.run_gpu_benchmarks`` answers "what GPU does a class need?" (issue 8). It composes
parts that each measure one thing and return it as data (dicts and lists), never as printed text:

- ``machine``        the device, the versions, the commit; the copy bandwidth (part "bandwidth")
- ``lessons``        every lesson notebook run headless in a kernel of its own (part "lessons")
- ``in_kernel``      what runs inside such a kernel and hands its figures back in a file
- ``tensor_memory``  live tensor bytes: the CPU's stand-in for ``torch.cuda.max_memory_allocated``
- ``bench_listener`` the ForwardListener's overhead (part "listener"; also its own command)
- ``decode``         ms per generated token against the bandwidth floor (part "decode")
- ``decode_ladder``  issue 17's decode ladder beside CTranslate2 (part "ladder"; also its own command),
  with ``ct2_peer`` (the CTranslate2 side) and ``ladder_report`` (its tables)
- ``bench_pipeline`` the seq2seq pipeline's overhead over ``generate()`` (its own command only)

``bookkeeping`` holds the time budget and the results file every part writes into; ``gpu_report``
renders the results as BENCHMARKS.md, with its prose in ``report_text``; ``notebook_runs`` holds what
the lesson-running parts share (errors read from an executed notebook, a device's file name).

``python -m bench.students_per_gpu`` (how many students share one GPU) is run on its own; ``gpu_report``
appends the section it writes. Its parts: ``students_class`` (a class of kernels at once and the memory
sampler), ``students_worker`` (one student), ``student_kernel`` (what runs in that student's kernel),
``students_cap_check``, ``students_sizing`` (the arithmetic) and ``students_markdown`` (the text).
"""
