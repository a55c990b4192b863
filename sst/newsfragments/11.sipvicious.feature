The suite runs SIPVicious (svwar, svcrack) against an authenticating sst: no user is enumerated and no password found without the right wordlist.
