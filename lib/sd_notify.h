/*
 * sd_notify.h - tell systemd (Type=notify) where the daemon is: started, reloading,
 * stopping. The protocol is one datagram to the unix socket named by $NOTIFY_SOCKET
 * (sd_notify(3)); without that variable nothing is sent, so the daemon runs the same
 * outside systemd. No libsystemd needed.
 */
#ifndef POSTERN_SD_NOTIFY_H
#define POSTERN_SD_NOTIFY_H

/* Send state ("READY=1", "RELOADING=1\nSTATUS=...", "STOPPING=1"). Returns 1 when sent,
 * 0 when $NOTIFY_SOCKET is not set, -1 with errno on failure (the caller may ignore it). */
int sd_notify_send(const char *state);

#endif
