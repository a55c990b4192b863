"""
The stateful proxy core (RFC 3261 section 16), one concern per module:

  - L{sst.proxy.core}: L{Proxy<sst.proxy.core.Proxy>}, the transaction user: request
    validation in the section 16.3 order, dispatch and routing;
  - L{sst.proxy.forwarding}: Route pre-processing, loop detection, branches, Via and
    Record-Route, the switch to TCP for large requests, stateless ACK, CANCEL and responses;
  - L{sst.proxy.responses}: what comes back on the branches: provisional, 2xx (dialogs
    and session terms), failures, Timer C and the CANCEL of branches;
  - L{sst.proxy.branches}: a forwarded copy of a request (L{Branch<sst.proxy.branches.Branch>})
    and the response context of a proxied request, with best-response selection;
  - L{sst.proxy.hook}: L{ISessionTimerHook<sst.proxy.hook.ISessionTimerHook>}, the interface
    the core calls upward about session timers.
"""
