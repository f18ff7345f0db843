/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON writer of pyward --json (json.h): strings escaped per RFC 8259, invalid UTF-8 replaced
 * by U+FFFD with the raw bytes in base64 beside, unknown values as null. */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json.h"

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, <= U+10FFFF),
 * or 0 if the bytes there are not one. */
static size_t utf8_valid_at(const uint8_t *p, size_t n) {
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

int json_print_result(const JobResult *r, const Buffer *out, const Buffer *err, int exit_status) {
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
        printf(",\"pyward_exit_status\":%d}\n", exit_status);
        if (fflush(stdout) != 0)
                return fail("cannot write the JSON document: %m");
        return 0;
}
