/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The systemd manager's D-Bus API as pyward-helper uses it: every method call and match, the reply
 * error's mapping and the retry while the manager re-executes, written once. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "manager.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_UNIT "org.freedesktop.systemd1.Unit"
#define SD_SERVICE "org.freedesktop.systemd1.Service"
#define SD_PROPERTIES "org.freedesktop.DBus.Properties"
/* A call the manager could not answer because it is away (daemon-reexec) is retried this often,
 * for at most this long. */
#define RETRY_USEC (200 * 1000U)
#define RETRY_MAX_USEC (10 * 1000 * 1000U)

int manager_open(sd_event *e, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_set_method_call_timeout(bus, MANAGER_CALL_TIMEOUT_USEC);
        if (r >= 0)
                r = sd_bus_attach_event(bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

const sd_bus_error *manager_reply_error(sd_bus_message *reply) {
        if (!sd_bus_message_is_method_error(reply, NULL))
                return NULL;
        return sd_bus_message_get_error(reply);
}

int manager_reply_errno(sd_bus_message *reply) {
        const sd_bus_error *e = manager_reply_error(reply);

        return e ? -sd_bus_error_get_errno(e) : 0;
}

bool manager_error_is_bus_rejection(const sd_bus_error *e) {
        /* dbus-daemon's answer for a call it did not deliver because a queue was over its limit:
         * "Rejected: destination has a full message queue" (the manager's queue holds at most
         * max_outgoing_unix_fds, 64 on the system bus, of the fds that calls bring: each job's start
         * brings 3), or the caller has too many replies pending. The manager never saw the call. */
        return e && sd_bus_error_has_name(e, SD_BUS_ERROR_LIMITS_EXCEEDED);
}

bool manager_error_is_transient(const sd_bus_error *e) {
        /* clang-format off */
        static const char *const names[] = {
                SD_BUS_ERROR_NO_REPLY,           /* "recipient disconnected ... without replying" */
                SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                SD_BUS_ERROR_SERVICE_UNKNOWN,
                SD_BUS_ERROR_TIMEOUT,
                "org.freedesktop.DBus.Error.TimedOut",
                SD_BUS_ERROR_LIMITS_EXCEEDED,    /* manager_error_is_bus_rejection() */
        };
        /* clang-format on */

        if (!e || !e->name)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (sd_bus_error_has_name(e, names[i]))
                        return true;
        /* dbus-daemon tries to activate a name nobody owns; systemd's activation file fails. */
        return strncmp(e->name, "org.freedesktop.DBus.Error.Spawn.", 33) == 0;
}

int manager_subscribe(sd_bus *bus, sd_bus_slot **ret_slot, sd_bus_message_handler_t cb, void *userdata) {
        return sd_bus_call_method_async(bus, ret_slot, SD_DEST, SD_PATH, SD_MANAGER, "Subscribe", cb,
                                        userdata, NULL);
}

int manager_get_version(sd_bus *bus, sd_bus_slot **ret_slot, sd_bus_message_handler_t cb, void *userdata) {
        return sd_bus_call_method_async(bus, ret_slot, SD_DEST, SD_PATH, SD_PROPERTIES, "Get", cb, userdata,
                                        "ss", SD_MANAGER, "Version");
}

int manager_read_version(sd_bus_message *reply, unsigned *ret) {
        const char *version;
        int r;

        r = manager_reply_errno(reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "v", "s", &version);
        if (r < 0)
                return r;
        *ret = (unsigned) strtoul(version, NULL, 10);
        return 0;
}

int manager_get_unit(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit, sd_bus_message_handler_t cb,
                     void *userdata) {
        return sd_bus_call_method_async(bus, ret_slot, SD_DEST, SD_PATH, SD_MANAGER, "GetUnit", cb, userdata,
                                        "s", unit);
}

int manager_read_unit_exists(sd_bus_message *reply) {
        const sd_bus_error *e = manager_reply_error(reply);

        if (!e)
                return 1;
        if (sd_bus_error_has_name(e, "org.freedesktop.systemd1.NoSuchUnit"))
                return 0;
        return -sd_bus_error_get_errno(e);
}

int manager_start_transient_unit(sd_bus *bus, sd_bus_slot **ret_slot, const JobSpec *spec,
                                 sd_bus_message_handler_t cb, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "StartTransientUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", spec->unit, "fail");
        if (r >= 0)
                r = unit_props_append(m, spec);
        /* No auxiliary units: the job's unit is all there is. */
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return log_error_errno(r, "Failed to build the properties of %s: %m", spec->unit);
        r = sd_bus_call_async(bus, ret_slot, m, cb, userdata, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to call StartTransientUnit for %s: %m", spec->unit);
        return 0;
}

int manager_set_job_limits(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit, uint64_t tasks,
                           uint64_t cpu_quota_per_sec_usec, sd_bus_message_handler_t cb, void *userdata) {
        return sd_bus_call_method_async(bus, ret_slot, SD_DEST, SD_PATH, SD_MANAGER, "SetUnitProperties", cb,
                                        userdata, "sba(sv)", unit, 1, 2, "TasksMax", "t", tasks,
                                        "CPUQuotaPerSecUSec", "t", cpu_quota_per_sec_usec);
}

int manager_kill_unit(sd_bus *bus, const char *unit, int signo) {
        return sd_bus_call_method_async(bus, NULL, SD_DEST, SD_PATH, SD_MANAGER, "KillUnit", NULL, NULL,
                                        "ssi", unit, "all", (int32_t) signo);
}

int manager_stop_unit(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit, sd_bus_message_handler_t cb,
                      void *userdata) {
        return sd_bus_call_method_async(bus, ret_slot, SD_DEST, SD_PATH, SD_MANAGER, "StopUnit", cb, userdata,
                                        "ss", unit, "replace");
}

int manager_unit_path(const char *unit, char **ret) {
        return sd_bus_path_encode(SD_PATH "/unit", unit, ret);
}

int manager_unref_unit(sd_bus *bus, const char *unit_path) {
        return sd_bus_call_method_async(bus, NULL, SD_DEST, unit_path, SD_UNIT, "Unref", NULL, NULL, NULL);
}

int manager_ref_unit(sd_bus *bus, const char *unit_path) {
        return sd_bus_call_method_async(bus, NULL, SD_DEST, unit_path, SD_UNIT, "Ref", NULL, NULL, NULL);
}

int manager_get_unit_props(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit_path,
                           sd_bus_message_handler_t cb, void *userdata) {
        return sd_bus_call_method_async(bus, ret_slot, SD_DEST, unit_path, SD_PROPERTIES, "GetAll", cb,
                                        userdata, "s", SD_UNIT);
}

int manager_get_service_props(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit_path,
                              sd_bus_message_handler_t cb, void *userdata) {
        return sd_bus_call_method_async(bus, ret_slot, SD_DEST, unit_path, SD_PROPERTIES, "GetAll", cb,
                                        userdata, "s", SD_SERVICE);
}

int manager_get_service_property(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit_path, const char *name,
                                 sd_bus_message_handler_t cb, void *userdata) {
        return sd_bus_call_method_async(bus, ret_slot, SD_DEST, unit_path, SD_PROPERTIES, "Get", cb, userdata,
                                        "ss", SD_SERVICE, name);
}

int manager_get_unit_property(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit_path, const char *name,
                              sd_bus_message_handler_t cb, void *userdata) {
        return sd_bus_call_method_async(bus, ret_slot, SD_DEST, unit_path, SD_PROPERTIES, "Get", cb, userdata,
                                        "ss", SD_UNIT, name);
}

int manager_watch_unit(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit_path,
                       sd_bus_message_handler_t cb, void *userdata) {
        return sd_bus_match_signal_async(bus, ret_slot, SD_DEST, unit_path, SD_PROPERTIES,
                                         "PropertiesChanged", cb, NULL, userdata);
}

int manager_watch_jobs(sd_bus *bus, sd_bus_slot **ret_slot_new, sd_bus_slot **ret_slot_removed,
                       sd_bus_message_handler_t on_new, sd_bus_message_handler_t on_removed, void *userdata) {
        int r;

        /* Both carry the unit's name; the caller filters on it. (An arg2= match on the unit's name
         * would spare every helper the other jobs' signals, but such a match saw no JobNew on 257:
         * the stop job of "systemctl stop" went unnoticed.) */
        r = sd_bus_match_signal_async(bus, ret_slot_removed, SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved",
                                      on_removed, NULL, userdata);
        if (r < 0)
                return r;
        return sd_bus_match_signal_async(bus, ret_slot_new, SD_DEST, SD_PATH, SD_MANAGER, "JobNew", on_new,
                                         NULL, userdata);
}

ManagerInterface manager_changed_interface(sd_bus_message *m) {
        const char *interface;

        if (sd_bus_message_read(m, "s", &interface) < 0)
                return MANAGER_INTERFACE_OTHER;
        if (strcmp(interface, SD_UNIT) == 0)
                return MANAGER_INTERFACE_UNIT;
        if (strcmp(interface, SD_SERVICE) == 0)
                return MANAGER_INTERFACE_SERVICE;
        return MANAGER_INTERFACE_OTHER;
}

/* gcc 12's analyzer reports the string stored through p->ptr (the caller's _cleanup_free_
 * variable) as leaked at the next return: a false positive, the caller owns and frees it. */
DISABLE_WARNING_ANALYZER_LEAK
int manager_read_props(sd_bus_message *m, const ManagerProp *props, size_t n) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const ManagerProp *p = NULL;
                const char *name;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        if (strcmp(props[i].name, name) == 0)
                                p = &props[i];
                if (!p) {
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                return r;
                } else {
                        r = sd_bus_message_enter_container(m, 'v', p->sig);
                        if (r < 0)
                                return r;
                        if (strcmp(p->sig, "s") == 0) {
                                const char *s;
                                char *c;

                                r = sd_bus_message_read(m, "s", &s);
                                if (r < 0)
                                        return r;
                                c = strdup(s);
                                if (!c)
                                        return -ENOMEM;
                                free(*(char **) p->ptr);
                                *(char **) p->ptr = c;
                        } else if (strcmp(p->sig, "ay") == 0) {
                                const void *v;
                                size_t sz;

                                r = sd_bus_message_read_array(m, 'y', &v, &sz);
                                if (r < 0)
                                        return r;
                                if (sz == 16)
                                        memcpy(p->ptr, v, 16);
                        } else if (strcmp(p->sig, "(uo)") == 0) {
                                const char *path;

                                r = sd_bus_message_read(m, "(uo)", (uint32_t *) p->ptr, &path);
                        } else
                                r = sd_bus_message_read_basic(m, p->sig[0], p->ptr);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}
REENABLE_WARNING

int manager_retry_schedule(ManagerRetry *r, sd_event *e, uint64_t usec) {
        int q;

        if (r->timer) {
                q = sd_event_source_set_time_relative(r->timer, usec);
                if (q >= 0)
                        q = sd_event_source_set_enabled(r->timer, SD_EVENT_ONESHOT);
        } else
                q = sd_event_add_time_relative(e, &r->timer, CLOCK_MONOTONIC, usec, 10 * 1000U, r->handler,
                                               r->userdata);
        if (q < 0)
                return log_error_errno(q, "Failed to arm the retry timer of %s: %m", r->unit);
        return 0;
}

bool manager_retry_later(ManagerRetry *r, sd_event *e, const sd_bus_error *error, const char *what) {
        uint64_t now = 0;

        if (!manager_error_is_transient(error))
                return false;
        (void) sd_event_now(e, CLOCK_MONOTONIC, &now);
        if (r->transient_since == 0) {
                r->transient_since = now;
                log_notice("Job unit %s: %s failed (%s), the manager is away; retrying.", r->unit, what,
                           error->message ?: error->name);
        } else if (now - r->transient_since > RETRY_MAX_USEC) {
                log_error("Job unit %s: the manager did not come back within %u s.", r->unit,
                          (unsigned) (RETRY_MAX_USEC / 1000000U));
                return false;
        }
        return manager_retry_schedule(r, e, RETRY_USEC) >= 0;
}

void manager_retry_over(ManagerRetry *r) {
        if (r->transient_since == 0)
                return;
        r->transient_since = 0;
        log_info("Job unit %s: the manager answers again.", r->unit);
}

void manager_retry_done(ManagerRetry *r) {
        r->timer = sd_event_source_disable_unref(r->timer);
}

int manager_socket_max_connections(sd_bus *bus, uint32_t *ret, sd_bus_error *error) {
        return sd_bus_get_property_trivial(bus, SD_DEST, SD_PATH "/unit/pyward_2dhelper_2esocket",
                                           "org.freedesktop.systemd1.Socket", "MaxConnections", error, 'u',
                                           ret);
}

int manager_count_active_units(sd_bus *bus, const char *pattern, uint32_t *ret, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *states[] = { "active", "activating", "reloading", "deactivating", NULL };
        uint32_t n = 0;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, SD_DEST, SD_PATH, SD_MANAGER, "ListUnitsByPatterns");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) states);
        if (r >= 0)
                r = sd_bus_message_append(m, "as", 1, pattern);
        if (r >= 0)
                r = sd_bus_call(bus, m, MANAGER_CALL_TIMEOUT_USEC, error, &reply);
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        while (r >= 0 && (r = sd_bus_message_skip(reply, "(ssssssouso)")) > 0)
                n++;
        if (r < 0)
                return r;
        *ret = n;
        return 0;
}
