#include "names.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char *const adjectives[] = {
    "agile",    "amber",    "ardent",   "bold",     "brave",    "breezy",   "bright",
    "brisk",    "buoyant",  "calm",     "candid",   "careful",  "cheerful", "clever",
    "cosmic",   "crisp",    "curious",  "daring",   "dapper",   "deft",     "diligent",
    "dreamy",   "eager",    "earnest",  "fearless", "festive",  "fluent",   "frank",
    "gallant",  "gentle",   "glad",     "golden",   "hardy",    "hearty",   "humble",
    "jolly",    "keen",     "kind",     "lively",   "lucid",    "merry",    "mellow",
    "mighty",   "modest",   "nimble",   "noble",    "patient",  "plucky",   "polite",
    "proud",    "quiet",    "quick",    "radiant",  "rapid",    "ready",    "restless",
    "rugged",   "salty",    "serene",   "sharp",    "silent",   "sleek",    "snug",
    "spry",     "stable",   "steady",   "stoic",    "sturdy",   "sunny",    "swift",
    "tidal",    "tireless", "tranquil", "trusty",   "upbeat",   "valiant",  "vivid",
    "wakeful",  "wandering", "warm",    "wise",     "witty",    "zealous",  "zesty",
};

/* Navigators, shipwrights, oceanographers and scientists of the sea and sky. */
static const char *const surnames[] = {
    "abel",      "agnesi",    "alvarez",   "amundsen",  "anning",    "archimedes",
    "ballard",   "banks",     "barton",    "beaufort",  "bering",    "bjerknes",
    "bligh",     "bougainville", "bowditch", "brunel",   "cabot",     "carson",
    "cousteau",  "dampier",   "darwin",    "dias",      "earle",     "ekman",
    "ericsson",  "fitzroy",   "flinders",  "franklin",  "fridtjof",  "fulton",
    "gagarin",   "galilei",   "germain",   "halley",    "harrison",  "hass",
    "henson",    "herschel",  "heyerdahl", "hipparchus", "humboldt", "huygens",
    "jemison",   "kepler",    "kovalevskaya", "lamarr", "laplace",   "leavitt",
    "lovelace",  "magellan",  "maury",     "meitner",   "mercator",  "nansen",
    "noether",   "ochoa",     "parsons",   "peary",     "piccard",   "ptolemy",
    "raman",     "ride",      "ross",      "sacagawea", "scoresby",  "shackleton",
    "somerville", "stommel",  "tasman",    "tereshkova", "tharp",    "torricelli",
    "vancouver", "verne",     "vespucci",  "walsh",     "wegener",   "zheng",
};

static unsigned pick(unsigned n)
{
    unsigned r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    return r % n;
}

void tug_random_name(char *buf, size_t size, int attempt)
{
    const char *a = adjectives[pick(sizeof(adjectives) / sizeof(adjectives[0]))];
    const char *s = surnames[pick(sizeof(surnames) / sizeof(surnames[0]))];
    if (attempt > 0)
        snprintf(buf, size, "%s_%s%u", a, s, pick(10));
    else
        snprintf(buf, size, "%s_%s", a, s);
}

int tug_name_valid(const char *name)
{
    if (name == NULL || !isalnum((unsigned char)name[0]) || strlen(name) < 2 ||
        strlen(name) > 128)
        return 0;
    for (const char *p = name + 1; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            return 0;
    return 1;
}
