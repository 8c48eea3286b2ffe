"""Wrenn's code-interpreter server: Jupyter kernels behind the HTTP protocol
the `e2b-code-interpreter` SDK speaks on port 49999 (`POST /execute`
streaming NDJSON, `/contexts`). Our own code, not E2B's.

Layers (each imports only those below it):
  messages  Jupyter iopub message -> SDK NDJSON line (pure, unit tested)
  kernels   contexts: one jupyter_client AsyncKernelManager each
  execute   one execution: request, iopub stream, env vars, interrupt
  app       tornado handlers and the process entry point
"""
