/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON writer of pyward --json (json.h): strings escaped per RFC 8259, invalid UTF-8 replaced
 * by U+FFFD with the raw bytes in base64 beside, unknown values as null. */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json.h"

size_t utf8_valid_at(const uint8_t *p, size_t n) {
        uint8_t c = p[0];
        size_t len;
        uint32_t cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                len = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                len = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                len = 4, cp = c & 0x07;
        else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return len;
}

/* A JSON string. Bytes that are not valid UTF-8 become U+FFFD each; *ret_lossy says if any did. */
static void json_string(FILE *f, const void *data, size_t n, bool *ret_lossy) {
        const uint8_t *p = data;
        bool lossy = false;

        fputc('"', f);
        for (size_t i = 0; i < n;) {
                size_t l = utf8_valid_at(p + i, n - i);

                if (l == 0) {
                        fputs("\\ufffd", f);
                        lossy = true;
                        i++;
                        continue;
                }
                if (l > 1) {
                        fwrite(p + i, 1, l, f);
                        i += l;
                        continue;
                }
                /* clang-format off */
                switch (p[i]) {
                case '"': fputs("\\\"", f); break;
                case '\\': fputs("\\\\", f); break;
                case '\n': fputs("\\n", f); break;
                case '\r': fputs("\\r", f); break;
                case '\t': fputs("\\t", f); break;
                case '\b': fputs("\\b", f); break;
                case '\f': fputs("\\f", f); break;
                default:
                        if (p[i] < 0x20)
                                fprintf(f, "\\u%04x", p[i]);
                        else
                                fputc(p[i], f);
                }
                /* clang-format on */
                i++;
        }
        fputc('"', f);
        if (ret_lossy)
                *ret_lossy = lossy;
}

static void json_string_or_null(FILE *f, const char *s) {
        if (s)
                json_string(f, s, strlen(s), NULL);
        else
                fputs("null", f);
}

static void json_u64_or_null(FILE *f, uint64_t v) {
        if (v == RESULT_UNSET)
                fputs("null", f);
        else
                fprintf(f, "%" PRIu64, v);
}

static void base64(FILE *f, const uint8_t *p, size_t n) {
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

        fputc('"', f);
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0) |
                             (i + 2 < n ? p[i + 2] : 0);
                fputc(t[v >> 18], f);
                fputc(t[(v >> 12) & 63], f);
                fputc(i + 1 < n ? t[(v >> 6) & 63] : '=', f);
                fputc(i + 2 < n ? t[v & 63] : '=', f);
        }
        fputc('"', f);
}

static void json_stream(FILE *f, const char *name, const Buffer *b) {
        bool lossy;

        fprintf(f, "\"%s\":", name);
        json_string(f, b->data, b->size, &lossy);
        /* Lossless when it matters: the raw bytes too, if the string had to replace any. */
        if (lossy) {
                fprintf(f, ",\"%s_base64\":", name);
                base64(f, b->data, b->size);
        }
        fputc(',', f);
}

static bool utf8_valid(const void *data, size_t n) {
        const uint8_t *p = data;

        for (size_t i = 0, l; i < n; i += l) {
                l = utf8_valid_at(p + i, n - i);
                if (l == 0)
                        return false;
        }
        return true;
}

/* "path":"..." when the path is UTF-8, else "path_base64":"..." with its exact bytes. */
static void json_path(FILE *f, const char *p, size_t n) {
        if (utf8_valid(p, n)) {
                fputs("\"path\":", f);
                json_string(f, p, n, NULL);
        } else {
                fputs("\"path_base64\":", f);
                base64(f, (const uint8_t *) p, n);
        }
}

static void json_file(FILE *f, const Collect *c, const CollectedFile *file) {
        bool at_file = file->error_where >= file->path_size;

        fputc('{', f);
        json_path(f, file->path, file->path_size);
        fprintf(f, ",\"size\":%" PRIu64 ",\"mode\":%" PRIu32, file->size, file->mode & 07777);
        if (file->incomplete)
                fputs(",\"incomplete\":true", f); /* its bytes are not kept, nor written */
        else if (c->dir_fd < 0) {
                fputs(",\"content_base64\":", f);
                base64(f, file->data.data, file->data.size);
        } else if (file->error == 0)
                fputs(",\"written\":true", f);
        else {
                /* "a/b: a symbolic link: not followed": the component that failed, then why. */
                const char *why = files_out_strerror(file->error, at_file);
                Buffer b = {};

                if (!at_file && file->error_where > 0 &&
                    (buffer_append(&b, file->path, file->error_where) < 0 || buffer_append(&b, ": ", 2) < 0))
                        buffer_done(&b);
                fputs(",\"written\":false,\"error\":", f);
                if (buffer_append(&b, why, strlen(why)) < 0)
                        json_string(f, why, strlen(why), NULL);
                else
                        json_string(f, b.data, b.size, NULL);
                buffer_done(&b);
        }
        fputc('}', f);
}

static void json_files(FILE *f, const Collect *c, const JobResult *r) {
        fputs(",\"files\":[", f);
        for (size_t i = 0; i < c->n_files; i++) {
                if (i > 0)
                        fputc(',', f);
                json_file(f, c, &c->files[i]);
        }
        fputs("],\"skipped\":[", f);
        for (size_t i = 0; i < c->n_skipped; i++) {
                fputs(i > 0 ? ",{" : "{", f);
                json_path(f, c->skipped[i].path, c->skipped[i].path_size);
                fputs(",\"reason\":", f);
                json_string_or_null(f, file_skip_reason_to_string(c->skipped[i].reason));
                fputc('}', f);
        }
        fputs("],\"files_out\":", f);
        json_u64_or_null(f, r->files_reported ? r->files_out : RESULT_UNSET);
        fputs(",\"files_out_bytes\":", f);
        json_u64_or_null(f, r->files_reported ? r->files_out_bytes : RESULT_UNSET);
        fputs(",\"files_skipped\":", f);
        json_u64_or_null(f, r->files_reported ? r->files_skipped : RESULT_UNSET);
        fputs(",\"files_note\":", f);
        json_string_or_null(f, r->files_note);
}

int json_print_result(const JobResult *r, const Buffer *out, const Buffer *err, const Collect *c,
                      int exit_status) {
        char sig[16];

        fputs("{\"status\":", stdout);
        json_string_or_null(stdout, job_status_to_string(r->status));
        fputs(",\"exit_code\":", stdout);
        if (r->exit_code >= 0)
                printf("%d", r->exit_code);
        else
                fputs("null", stdout);
        fputs(",\"signal\":", stdout);
        json_string_or_null(stdout,
                            r->signal > 0 && signal_to_string(r->signal, sig, sizeof(sig)) >= 0 ? sig : NULL);
        fputc(',', stdout);
        json_stream(stdout, "stdout", out);
        json_stream(stdout, "stderr", err);
        fputs("\"wall_ms\":", stdout);
        json_u64_or_null(stdout, r->wall_ms);
        fputs(",\"cpu_ms\":", stdout);
        json_u64_or_null(stdout, r->cpu_ms);
        fputs(",\"memory_peak_bytes\":", stdout);
        json_u64_or_null(stdout, r->memory_peak_bytes);
        fputs(",\"memory_peak_reason\":", stdout);
        json_string_or_null(stdout, r->memory_peak_reason);
        fputs(",\"unit\":", stdout);
        json_string_or_null(stdout, r->unit);
        fputs(",\"invocation_id\":", stdout);
        json_string_or_null(stdout, r->invocation_id);
        fputs(",\"job\":", stdout);
        json_string_or_null(stdout, r->job);
        fputs(",\"message\":", stdout);
        json_string_or_null(stdout, r->message);
        /* Only where the profile keeps warm runners (as in the RESULT): which path the job took. */
        if (r->path_reported)
                printf(",\"path\":\"%s\"", r->warm ? "warm" : "cold");
        if (c)
                json_files(stdout, c, r);
        printf(",\"pyward_exit_status\":%d}\n", exit_status);
        if (fflush(stdout) != 0)
                return fail("cannot write the JSON document: %m");
        return 0;
}

static void json_profile(FILE *f, const ProfileInfo *p) {
        fputs("{\"name\":", f);
        json_string_or_null(f, p->name);
        fputs(",\"interpreter\":", f);
        json_string_or_null(f, p->interpreter);
        fputs(",\"python\":", f);
        json_string_or_null(f, p->python && *p->python ? p->python : NULL);
        fputs(",\"network\":", f);
        json_string_or_null(f, p->network);
        fputs(",\"limits\":{", f);
        for (int k = 1; k < _LIMIT_MAX; k++)
                fprintf(f, "%s\"%s\":{\"default\":%" PRIu64 ",\"max\":%" PRIu64 "}", k > 1 ? "," : "",
                        limit_key_to_string(k), p->limit_default[k], p->limit_max[k]);
        fputs("},\"packages\":{", f);
        for (size_t i = 0; i < p->n_packages; i++) {
                const char *s = p->packages[i], *sp = strchr(s, ' ');
                size_t name = sp ? (size_t) (sp - s) : strlen(s);

                if (i > 0)
                        fputc(',', f);
                json_string(f, s, name, NULL);
                fputc(':', f);
                json_string(f, sp ? sp + 1 : "", sp ? strlen(sp + 1) : 0, NULL);
        }
        fprintf(f, "},\"packages_omitted\":%" PRIu64 ",\"note\":", p->packages_omitted);
        json_string_or_null(f, p->note && *p->note ? p->note : NULL);
        fputc('}', f);
}

int json_print_profiles(const ProfileInfo *p, size_t n, const JobResult *r, int exit_status) {
        fputs("{\"profiles\":[", stdout);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        fputc(',', stdout);
                json_profile(stdout, &p[i]);
        }
        fputs("],\"status\":", stdout);
        json_string_or_null(stdout, job_status_to_string(r->status));
        fputs(",\"message\":", stdout);
        json_string_or_null(stdout, r->message);
        printf(",\"pyward_exit_status\":%d}\n", exit_status);
        if (fflush(stdout) != 0)
                return fail("cannot write the JSON document: %m");
        return 0;
}
