"""
The back-to-back user agent: each call is two dialogs, RFC 4028 on each on its own.

The A-leg is the dialog with the caller, where sst is the UAS (RFC 4028 section 9); the B-leg
is the dialog with the callee, where sst is the UAC (section 7). Each leg has its own session
interval, Min-SE history and refresher, kept in the L{DialogTable<sst.dialogs.DialogTable>}
(one entry per leg, its expiry timer at C{SE - min(32, SE/3)} after the last refresh, RFC 4028
section 10).

  - L{sst.b2bua.settings}: the B2BUA's own options (L{B2BUASettings
    <sst.b2bua.settings.B2BUASettings>}).
  - L{sst.b2bua.call}: a call and its two legs (L{Call<sst.b2bua.call.Call>},
    L{Leg<sst.b2bua.call.Leg>}).
  - L{sst.b2bua.setup}: setting a call up: the A-leg's terms, the B-leg INVITE, its 422 retry.
  - L{sst.b2bua.refresh}: each leg's table entry and sst's refreshes on it.
  - L{sst.b2bua.answers}: the in-dialog requests of the peers: refreshes answered, offers and
    other requests relayed.
  - L{sst.b2bua.snapshot}: what a call is after a restart (L{CallSnapshot
    <sst.b2bua.snapshot.CallSnapshot>}), saved by the dialog stores with each leg's entry.
  - L{sst.b2bua.persistence}: keeping each call's snapshot in its legs' entries, and rebuilding
    the call when a store restores them.
  - L{sst.b2bua.core}: L{B2BUA<sst.b2bua.core.B2BUA>}, the UA core's user and the dialog
    table's observer: it dispatches to the above and ends calls.

@see: U{https://www.rfc-editor.org/rfc/rfc4028}
"""
