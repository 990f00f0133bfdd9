/* Dropbear build options for the Bonsai guest: images/build.sh copies this file into the
 * dropbear source tree as localoptions.h, which overrides default_options.h (see dropbear's
 * INSTALL). Everything not named here keeps upstream's default.
 *
 * The guest's root account has no password, so the server must never accept one: password
 * and PAM authentication are compiled out, not merely switched off by a flag. Without them
 * dropbear also rejects -s/-g/-B, so no command line can turn blank-password logins back on
 * (the "none" method succeeds only with -B). Logins are by public key only, from
 * /root/.ssh/authorized_keys.
 */
#define DROPBEAR_SVR_PASSWORD_AUTH 0
#define DROPBEAR_SVR_PAM_AUTH 0
#define DROPBEAR_SVR_PUBKEY_AUTH 1
#define DROPBEAR_SVR_PUBKEY_OPTIONS 1

/* User keys: ed25519, ecdsa and rsa (rsa-sha2-256, and ssh-rsa for old clients), so a
 * user's id_ed25519, id_ecdsa or id_rsa all work. DSS stays off (upstream's default).
 * The host key is ed25519 only (rootfs/etc/init.d/dropbear makes it at boot: 17 million
 * instructions, where a 2048-bit RSA key takes 3 billion); the other types serve user keys. */
#define DROPBEAR_ED25519 1
#define DROPBEAR_ECDSA 1
#define DROPBEAR_RSA 1
#define DROPBEAR_RSA_SHA1 1
#define DROPBEAR_DSS 0
/* Security keys (sk-ssh-ed25519@openssh.com, sk-ecdsa-...) in authorized_keys. */
#define DROPBEAR_SK_KEYS 1

/* There is no sftp-server in the guest: OpenSSH's scp (9.0 and later) needs `scp -O`,
 * the classic protocol, which runs the guest's scp. */
#define DROPBEAR_SFTPSERVER 0
#define DROPBEAR_X11FWD 0

/* The same PATH as /etc/profile. */
#define DEFAULT_PATH "/sbin:/bin:/usr/sbin:/usr/bin"
#define DEFAULT_ROOT_PATH "/sbin:/bin:/usr/sbin:/usr/bin"

/* The client that the guest's scp starts for a remote copy: /usr/bin/dbclient, a link to
 * the multi-call binary /usr/bin/dropbearmulti (as are dropbear, dropbearkey, ssh, scp). */
#define DROPBEAR_PATH_SSH_PROGRAM "/usr/bin/dbclient"

/* Every connection from the host through the user-mode network comes from the same
 * address (the gateway, 10.0.2.2), so the per-address limit on connections still in key
 * exchange or authentication (upstream: 5) would be the limit for the whole host: a burst
 * of parallel ssh or scp commands, each needing most of a second of emulated CPU for its
 * handshake, would see some refused. Allow as many as the total limit. */
#define MAX_UNAUTH_PER_IP 30
#define MAX_UNAUTH_CLIENTS 30
