/* emu_path.h - resource names and URL routing.
 *
 * Names are Firestore's: projects/{p}/databases/{d}/documents/{coll}/{id}[/{coll}/{id}...].
 * Names are ordered segment by segment ('/' sorts before every other byte), which is
 * Firestore's order of documents by __name__ and keeps the children of a collection
 * contiguous in the store. Routing maps an HTTP path to a target:
 *   /v1/projects/{p}/databases/{d}/documents[/path][:verb]   the Firestore API
 *   /emulator/v1/projects/{p}/databases/{d}/documents        reset (DELETE), export (GET)
 *   /emulator/v1/faults                                      fault injection admin
 *   /                                                        "Ok" (as Google's emulator) */
#ifndef EMU_PATH_H
#define EMU_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "tools/firestore-emulator/emu_error.h"

#define EMU_MAX_NAME 6144     /* bytes of a document name */
#define EMU_MAX_ID 1500       /* bytes of one id */

/* Checks a full document name; when database ("projects/p/databases/d") is given,
 * the name must belong to it. 0 when valid, else INVALID_ARGUMENT in st. */
int emu_name_check_document(const char *name, const char *database, emu_status *st);
/* Segment-wise order of names (<0, 0, >0). */
int emu_name_compare(const char *a, const char *b);
/* Last segment of a name (the document id). */
const char *emu_name_id(const char *name);
/* Number of '/'-separated segments after ".../documents" (0 for the root). */
int emu_name_depth(const char *name);

typedef enum {
    EMU_ROUTE_ROOT,        /* "/" */
    EMU_ROUTE_DOCUMENT,    /* .../documents/c/id            name = document */
    EMU_ROUTE_COLLECTION,  /* .../documents[/c/id]/c        name = collection */
    EMU_ROUTE_VERB,        /* .../documents[/c/id]:verb     name = parent (documents root or a document) */
    EMU_ROUTE_ADMIN_DOCS,  /* /emulator/v1/.../documents    name = documents root */
    EMU_ROUTE_ADMIN_FAULTS,
} emu_route_kind;

typedef struct {
    emu_route_kind kind;
    char database[512];   /* projects/{p}/databases/{d} */
    char name[EMU_MAX_NAME + 600];
    char verb[32];
} emu_route;

/* Parses a URL path (already percent-decoded, without the query). 0 on success;
 * NOT_FOUND for paths that are not part of the API, INVALID_ARGUMENT for bad names. */
int emu_route_parse(const char *path, emu_route *r, emu_status *st);

#endif
