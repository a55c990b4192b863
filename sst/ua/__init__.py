"""
The user-agent core (RFC 3261 sections 12 to 15, RFC 3311) on the transaction layer.

What the B2BUA needs of a UA, and no more:

  - L{sst.ua.core}: L{UserAgent<sst.ua.core.UserAgent>}, the transaction user that holds
    the dialogs and dispatches what arrives; its resolvers; L{IUAUser<sst.ua.core.IUAUser>},
    told of what arrives outside any dialog.
  - L{sst.ua.invite}: the UAS and UAC sides of a dialog-creating INVITE
    (L{IncomingInvite<sst.ua.invite.IncomingInvite>},
    L{OutgoingInvite<sst.ua.invite.OutgoingInvite>}, told to an
    L{IInviteUser<sst.ua.invite.IInviteUser>}) and the glare back-off.
  - L{sst.ua.dialog}: one dialog (L{UADialog<sst.ua.dialog.UADialog>}), told to an
    L{IDialogUser<sst.ua.dialog.IDialogUser>}.

Each interface lives beside the code that calls it; nothing here knows about session timers
or the other leg of a call.

@see: U{https://www.rfc-editor.org/rfc/rfc3261#section-12}
@see: U{https://www.rfc-editor.org/rfc/rfc3311}
"""
