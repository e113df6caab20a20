/* mask.h - how personal data is shown to operators when they did not ask to see it.
 *
 * One rule for every tool, so that no two outputs together reveal more than one does:
 *   - a kennitala (10 digits, with or without the hyphen) keeps its first six digits
 *     (the birth date) and hides the rest: "120389-****"; never any other digits;
 *   - any other string keeps its first character and its length: "J******** (9)";
 *   - numbers, booleans and null are shown as they are (ids, flags, counts).
 * mask_json() applies it to every string inside a JSON document. */
#ifndef COMMON_MASK_H
#define COMMON_MASK_H

#include <jansson.h>
#include <stddef.h>

/* Masked copy of s (malloc'd). */
char *mask_string(const char *s);
/* Masks every string value (not object keys) of j in place. */
void mask_json(json_t *j);

#endif
