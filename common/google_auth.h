/* google_auth.h - OAuth 2 access tokens for Google APIs (Firestore), from the three
 * places a deployment gets them:
 *   - the Firestore emulator: no token, "Authorization: Bearer owner" (admin);
 *   - a service-account key file (GOOGLE_APPLICATION_CREDENTIALS): an RS256-signed
 *     JWT assertion exchanged at the key's token_uri (RFC 7523);
 *   - the GCE/GKE metadata server (Workload Identity): GET
 *     /computeMetadata/v1/instance/service-accounts/default/token with
 *     "Metadata-Flavor: Google" (host from GCE_METADATA_HOST, as Google's libraries).
 * Tokens are cached and renewed a margin before they expire; gauth_authorization()
 * is thread-safe. Tokens and keys are never logged. */
#ifndef COMMON_GOOGLE_AUTH_H
#define COMMON_GOOGLE_AUTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct gauth gauth;

typedef enum { GAUTH_EMULATOR, GAUTH_SERVICE_ACCOUNT, GAUTH_METADATA } gauth_kind;

#define GAUTH_SCOPE_DATASTORE "https://www.googleapis.com/auth/datastore"

gauth *gauth_new_emulator(void);
/* token_uri: NULL to use the key file's own token_uri. */
gauth *gauth_new_service_account(const char *key_file, const char *token_uri, const char *scope,
                                 char *err, size_t errlen);
/* base: e.g. "http://169.254.169.254"; NULL for GCE_METADATA_HOST or metadata.google.internal. */
gauth *gauth_new_metadata(const char *base, char *err, size_t errlen);
/* The emulator when FIRESTORE_EMULATOR_HOST is set, else the key file named by
 * GOOGLE_APPLICATION_CREDENTIALS, else the metadata server. */
gauth *gauth_from_environment(const char *scope, char *err, size_t errlen);
void gauth_free(gauth *ga);

gauth_kind gauth_get_kind(const gauth *ga);
/* Writes "Bearer <token>" into buf, fetching or renewing the token when needed.
 * 0 on success; -1 with a reason in err (which never holds the token). http_status
 * receives the token endpoint's status on failure (0 when it was not reached), so that
 * callers can tell an authentication refusal (400/401/403) from an outage. */
int gauth_authorization(gauth *ga, char *buf, size_t len, int *http_status, char *err, size_t errlen);
/* Seconds before expiry at which a token is renewed (default 300). */
void gauth_set_renew_margin(gauth *ga, int seconds);
/* How many tokens were fetched so far (for metrics and tests). */
uint64_t gauth_fetch_count(const gauth *ga);

/* Building blocks, exposed for tests: base64url without padding; the signed JWT. */
char *gauth_base64url(const unsigned char *data, size_t len);
char *gauth_service_account_jwt(const char *client_email, const char *key_id, const char *private_key_pem,
                                const char *audience, const char *scope, int64_t now, char *err, size_t errlen);

#endif
