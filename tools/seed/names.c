/* names.c - Icelandic names: a first name by gender and a patronymic from a father's
 * name in the genitive ("Jóns" + "son"/"dóttir"), and their ASCII forms for e-mail. */
#include <stdio.h>
#include <string.h>

#include "tools/seed/seed.h"

static const char *const male[] = {
    "Jón", "Sigurður", "Guðmundur", "Gunnar", "Ólafur", "Einar", "Kristján", "Magnús", "Stefán",
    "Jóhann", "Björn", "Þórður", "Árni", "Halldór", "Ragnar", "Haukur", "Páll", "Helgi", "Davíð",
    "Þorsteinn", "Ásgeir", "Bjarni", "Egill", "Hörður", "Óskar", "Örn", "Ævar", "Úlfar", "Þráinn",
};
static const char *const female[] = {
    "Guðrún", "Anna", "Sigríður", "Kristín", "Margrét", "Helga", "Sigrún", "Ingibjörg", "Jóhanna",
    "María", "Þórdís", "Ásta", "Björk", "Eyrún", "Hildur", "Katrín", "Ólöf", "Ragnheiður", "Steinunn",
    "Þuríður", "Áslaug", "Dögg", "Elín", "Freyja", "Íris", "Sólveig", "Ösp", "Unnur", "Védís",
};
static const char *const neutral[] = { "Alex", "Ari", "Blær", "Dagur", "Sól", "Auður", "Kári", "Ugla" };
static const char *const fathers[] = {
    "Jóns", "Guðmundar", "Sigurðar", "Gunnars", "Ólafs", "Einars", "Kristjáns", "Magnúsar",
    "Stefáns", "Jóhanns", "Björns", "Þórðar", "Árna", "Halldórs", "Ragnars", "Hauks", "Páls",
    "Helga", "Davíðs", "Þorsteins", "Ásgeirs", "Bjarna", "Egils", "Harðar", "Arnar",
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

void seed_name(seed_rng *r, int gender, char *buf, size_t len)
{
    const char *first, *suffix;
    if (gender == 1) {
        first = male[seed_rng_below(r, N(male))];
        suffix = "son";
    } else if (gender == 2) {
        first = female[seed_rng_below(r, N(female))];
        suffix = "dóttir";
    } else {
        first = neutral[seed_rng_below(r, N(neutral))];
        suffix = seed_rng_chance(r, 50) ? "bur" : seed_rng_chance(r, 50) ? "son" : "dóttir";
    }
    const char *father = fathers[seed_rng_below(r, N(fathers))];
    if (seed_rng_chance(r, 25)) { /* a middle name */
        const char *middle = gender == 2 ? female[seed_rng_below(r, N(female))] : male[seed_rng_below(r, N(male))];
        if (strcmp(middle, first) != 0) {
            snprintf(buf, len, "%s %s %s%s", first, middle, father, suffix);
            return;
        }
    }
    snprintf(buf, len, "%s %s%s", first, father, suffix);
}

void seed_ascii_name(const char *name, char *buf, size_t len)
{
    static const struct { const char *from, *to; } map[] = {
        { "á", "a" }, { "Á", "a" }, { "ð", "d" }, { "Ð", "d" }, { "é", "e" }, { "É", "e" },
        { "í", "i" }, { "Í", "i" }, { "ó", "o" }, { "Ó", "o" }, { "ú", "u" }, { "Ú", "u" },
        { "ý", "y" }, { "Ý", "y" }, { "þ", "th" }, { "Þ", "th" }, { "æ", "ae" }, { "Æ", "ae" },
        { "ö", "o" }, { "Ö", "o" },
    };
    size_t o = 0;
    for (const char *p = name; *p && o + 3 < len;) {
        bool done = false;
        for (size_t i = 0; i < N(map) && !done; i++) {
            size_t fl = strlen(map[i].from);
            if (strncmp(p, map[i].from, fl) == 0) {
                for (const char *t = map[i].to; *t && o + 1 < len; t++)
                    buf[o++] = *t;
                p += fl;
                done = true;
            }
        }
        if (done)
            continue;
        char c = *p++;
        if (c == ' ')
            buf[o++] = '.';
        else if (c >= 'A' && c <= 'Z')
            buf[o++] = (char)(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            buf[o++] = c;
    }
    buf[o] = '\0';
}
