/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The answer to a DISCOVER request, as pure logic: the parser of what a discovery run reports about
 * its interpreter (untrusted: it comes from inside a sandbox) and the ProfileInfo of a profile. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "protocol.h"

/* Bounds on a report (CH_INFO or the cache's copy of it); what exceeds them is refused whole. */
#define DISCOVER_INFO_MAX PW_PROFILE_INFO_MAX /* bytes (CH_INFO_MAX) */
#define DISCOVER_PYTHON_MAX 32U               /* "3.11.2", "3.13.0rc1" */
#define DISCOVER_PACKAGES_MAX 8192U
#define DISCOVER_PACKAGE_MAX 256U /* "NAME VERSION" */
#define DISCOVER_PACKAGES_OMITTED_MAX 1000000000U
#define DISCOVER_SITEDIRS_MAX 64U
#define DISCOVER_SITEDIR_MAX 4096U /* PATH_MAX */

/* What a discovery run of a profile's interpreter reported, checked. */
typedef struct DiscoverInfo {
        char *python;    /* "3.11.2": digits and dots, then [A-Za-z0-9+.-] */
        char **packages; /* "NAME VERSION", sorted by bytes, unique; NULL-terminated, may be NULL */
        size_t n_packages;
        uint64_t packages_omitted; /* reported but not listed (see discover_info_parse()) */
        char **sitedirs;           /* absolute paths, in the order reported, unique; may be NULL */
        size_t n_sitedirs;
} DiscoverInfo;

void discover_info_done(DiscoverInfo *i);

/* Parses a report: "key=value\n" lines, values escaped as RESULT's (only \\ and \n), keys python=
 * (exactly once), package=NAME VERSION (repeated; sorted and deduplicated here, whatever the order
 * sent; one that is not NAME VERSION of the characters allowed, or beyond DISCOVER_PACKAGES_MAX,
 * is counted in packages_omitted instead), packages_omitted=N (at most once: what the runner left
 * out), sitedir=ABSOLUTE-PATH (repeated); unknown keys are ignored. At most DISCOVER_INFO_MAX
 * bytes, no NUL, the last line ends with '\n'. -EBADMSG with a static reason in *ret_why (which
 * may be NULL), -ENOMEM; ret is untouched on failure. */
int discover_info_parse(const void *data, size_t size, DiscoverInfo *ret, const char **ret_why);

/* Appends "key=value\n", value escaped as RESULT's. 0, -ENOMEM (b may then hold part of it). */
int discover_line_append(Buffer *b, const char *key, const char *value);

/* The report as discover_info_parse() reads it back (the cache's copy). 0, -ENOMEM. */
int discover_info_format(const DiscoverInfo *i, Buffer *b);

/* The ProfileInfo of profile p: its static parts from the configuration, python and packages from
 * info (NULL: unknown, note says why). 0, -ENOMEM. */
int discover_profile_info(const Profile *p, const DiscoverInfo *info, const char *note, ProfileInfo *ret);
