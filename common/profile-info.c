/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pyward wire protocol v1, PROFILE_INFO: one usable profile in the answer to DISCOVER, as
 * "key=value" lines escaped as RESULT's; its encoder (which keeps the frame within its bound by
 * counting the packages that do not fit) and its decoder. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "protocol.h"
#include "record.h"

/* "limit." NAME ".default": the longest limit name is 17 bytes ("session-wall-time"). */
#define LIMIT_KEY_MAX 40
/* The longest "packages_omitted=N\n" (20 digits). */
#define OMITTED_LINE_MAX (sizeof("packages_omitted=") + 20)

void profile_info_done(ProfileInfo *p) {
        if (!p)
                return;
        free(p->name);
        free(p->interpreter);
        free(p->python);
        free(p->network);
        free(p->note);
        strv_free(p->packages);
        *p = (ProfileInfo) {};
}

static void limit_key_name(char *buf, size_t size, LimitKey k, bool max) {
        (void) snprintf(buf, size, "limit.%s.%s", limit_key_to_string(k), max ? "max" : "default");
}

static void add_number_line(RecordBuf *b, const char *key, uint64_t v) {
        record_add_str(b, key);
        record_add(b, "=", 1);
        record_add_number(b, v);
        record_add(b, "\n", 1);
}

int profile_info_append(Buffer *out, const ProfileInfo *p) {
        _cleanup_free_ char *note_text = NULL;
        RecordBuf b = {}, note = {};
        uint64_t omitted;
        size_t i = 0;
        int r;

        if (!out || !p)
                return -EINVAL;
        record_add_line(&b, "name", p->name, PW_RESULT_MESSAGE_MAX);
        record_add_line(&b, "interpreter", p->interpreter, PW_RESULT_MESSAGE_MAX);
        record_add_line(&b, "python", p->python, PW_RESULT_MESSAGE_MAX);
        record_add_line(&b, "network", p->network, PW_RESULT_MESSAGE_MAX);
        for (LimitKey k = 1; k < _LIMIT_MAX; k++) {
                char key[LIMIT_KEY_MAX];

                limit_key_name(key, sizeof(key), k, false);
                add_number_line(&b, key, p->limit_default[k]);
                limit_key_name(key, sizeof(key), k, true);
                add_number_line(&b, key, p->limit_max[k]);
        }
        /* The last line is written first, so that the packages get what room is left. */
        record_add_line(&note, "note", p->note, PW_RESULT_MESSAGE_MAX);
        note_text = note.data;
        for (; p->packages && i < p->n_packages && p->packages[i] && !b.oom; i++) {
                size_t before = b.size;

                record_add_line(&b, "package", p->packages[i], PW_RESULT_MESSAGE_MAX);
                if (b.size + OMITTED_LINE_MAX + note.size > PW_PROFILE_INFO_MAX) {
                        /* In order: the first one that does not fit ends the list. */
                        b.size = before;
                        if (b.data)
                                b.data[before] = '\0';
                        break;
                }
        }
        omitted = p->packages_omitted + (uint64_t) (p->n_packages - i);
        add_number_line(&b, "packages_omitted", omitted);
        if (note.data)
                record_add(&b, note.data, note.size);
        else
                note.oom = true;

        r = b.oom || note.oom ? -ENOMEM : 0;
        if (r >= 0)
                r = b.size <= PW_PROFILE_INFO_MAX ? frame_append(out, FRAME_PROFILE_INFO, b.data, b.size)
                                                  : -EMSGSIZE;
        free(b.data);
        return r;
}

enum {
        PK_NAME,
        PK_INTERPRETER,
        PK_PYTHON,
        PK_NETWORK,
        PK_PACKAGES_OMITTED,
        PK_NOTE,
        _PK_MAX,
};

static const char *const profile_info_keys[_PK_MAX] = {
        [PK_NAME] = "name",       [PK_INTERPRETER] = "interpreter",           [PK_PYTHON] = "python",
        [PK_NETWORK] = "network", [PK_PACKAGES_OMITTED] = "packages_omitted", [PK_NOTE] = "note",
};

/* "limit.NAME.default" or "limit.NAME.max": its key and which; false if not such a key (or a
 * limit this side does not know: a newer helper's, ignored). */
static bool limit_key_parse(const char *key, LimitKey *ret_k, bool *ret_max) {
        char name[LIMIT_KEY_MAX];
        const char *dot;
        size_t n;
        LimitKey k;

        if (strncmp(key, "limit.", 6) != 0)
                return false;
        key += 6;
        dot = strrchr(key, '.');
        if (!dot || (!streq(dot, ".max") && !streq(dot, ".default")))
                return false;
        n = (size_t) (dot - key);
        if (n >= sizeof(name))
                return false;
        memcpy(name, key, n);
        name[n] = '\0';
        k = limit_key_from_string(name);
        if ((int) k < 0)
                return false;
        *ret_k = k;
        *ret_max = streq(dot, ".max");
        return true;
}

/* gcc 12's analyzer loses the string stored into the array p->packages points to and reports it
 * as leaked: a false positive, profile_info_done() frees every entry. */
DISABLE_WARNING_ANALYZER_LEAK
static int add_package(ProfileInfo *p, size_t *allocated, const char *value) {
        char *v;

        if (p->n_packages + 2 > *allocated) {
                size_t a = *allocated ? *allocated * 2 : 16;
                char **l = realloc(p->packages, sizeof(char *) * a);

                if (!l)
                        return -ENOMEM;
                p->packages = l;
                *allocated = a;
        }
        v = strdup(value);
        if (!v)
                return -ENOMEM;
        p->packages[p->n_packages++] = v;
        p->packages[p->n_packages] = NULL;
        return 0;
}
REENABLE_WARNING

static int profile_info_set(ProfileInfo *p, int k, const char *value) {
        char **strings[_PK_MAX] = {
                [PK_NAME] = &p->name,     [PK_INTERPRETER] = &p->interpreter,
                [PK_PYTHON] = &p->python, [PK_NETWORK] = &p->network,
                [PK_NOTE] = &p->note,
        };

        if (k == PK_PACKAGES_OMITTED)
                return record_parse_u64(value, &p->packages_omitted) < 0 ? -EBADMSG : 0;
        return record_set_string(strings[k], value); /* empty: unknown, NULL */
}

int profile_info_parse(const void *payload, size_t size, ProfileInfo *ret) {
        _cleanup_free_ char *text = NULL;
        ProfileInfo p = {};
        bool seen[_PK_MAX] = {}, limit_seen[_LIMIT_MAX][2] = {};
        size_t allocated = 0;
        char *pos, *key, *value;
        int error;

        if (!ret)
                return -EINVAL;
        error = record_text_dup(payload, size, PW_PROFILE_INFO_MAX, &text);
        if (error == -EMSGSIZE)
                error = -EBADMSG;
        if (error < 0)
                return error;

        for (pos = text; (error = record_next_line(&pos, &key, &value)) > 0;) {
                LimitKey lk;
                bool max;
                int k;

                if (limit_key_parse(key, &lk, &max)) {
                        uint64_t *field = max ? &p.limit_max[lk] : &p.limit_default[lk];

                        if (limit_seen[lk][max] || record_parse_u64(value, field) < 0) {
                                error = -EBADMSG;
                                break;
                        }
                        limit_seen[lk][max] = true;
                        continue;
                }
                if (streq(key, "package")) {
                        error = record_unescape(value);
                        if (error >= 0)
                                error = add_package(&p, &allocated, value);
                        if (error < 0)
                                break;
                        continue;
                }
                k = record_known_key(profile_info_keys, _PK_MAX, seen, key, value);
                if (k == -ENOENT)
                        continue; /* unknown key: a newer helper; ignore it */
                error = k < 0 ? k : profile_info_set(&p, k, value);
                if (error < 0)
                        break;
        }
        if (error >= 0 && !p.name)
                error = -EBADMSG;
        if (error < 0) {
                profile_info_done(&p);
                return error;
        }
        *ret = p;
        return 0;
}
