/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every call pyward-helper makes to the systemd manager over D-Bus, asynchronous, each with its slot
 * owned by the caller that waits for it: one place for names, timeouts, errors and retries. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "unit-props.h"

/* sd-bus's default of 25 s per call turned a manager slowed by a burst of jobs (the soak test, two
 * machines on two cores) into "could not start the job: Connection timed out". The job's own limits
 * and the client's deadlines bound the wait. */
#define MANAGER_CALL_TIMEOUT_USEC (120ULL * 1000000ULL)

/* Opens the system bus with MANAGER_CALL_TIMEOUT_USEC for every call and attaches it to e. */
int manager_open(sd_event *e, sd_bus **ret);

/* The error of a method reply (NULL if it is none), and its negative errno (0 if none). */
const sd_bus_error *manager_reply_error(sd_bus_message *reply);
int manager_reply_errno(sd_bus_message *reply);
/* The bus refused to deliver the call (a full queue): nothing of it reached the manager, and the
 * same call can be made again. */
bool manager_error_is_bus_rejection(const sd_bus_error *e);
/* The manager is away for a moment (daemon-reexec, or busy beyond the reply timeout), or the bus
 * did not deliver the call: the call is worth repeating. Anything else is an answer. */
bool manager_error_is_transient(const sd_bus_error *e);

/* Manager methods. Each callback gets the reply (or the error) like any sd-bus reply handler. */
int manager_subscribe(sd_bus *bus, sd_bus_slot **ret_slot, sd_bus_message_handler_t cb, void *userdata);
int manager_get_version(sd_bus *bus, sd_bus_slot **ret_slot, sd_bus_message_handler_t cb, void *userdata);
/* The leading number of a Version reply ("252.39-1~deb12u2", "257.9"): it decides which properties
 * exist. */
int manager_read_version(sd_bus_message *reply, unsigned *ret);
int manager_get_unit(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit, sd_bus_message_handler_t cb,
                     void *userdata);
/* Of a GetUnit reply: 1 the manager has the unit loaded, 0 it has not, < 0 cannot tell. */
int manager_read_unit_exists(sd_bus_message *reply);
/* StartTransientUnit(spec->unit, "fail", properties of spec, no auxiliary units). */
int manager_start_transient_unit(sd_bus *bus, sd_bus_slot **ret_slot, const JobSpec *spec,
                                 sd_bus_message_handler_t cb, void *userdata);
/* SetUnitProperties(unit, runtime, TasksMax=, CPUQuotaPerSecUSec=): a warm runner's unit given the
 * lower limits its job asked for, before the job is handed over. */
int manager_set_job_limits(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit, uint64_t tasks,
                           uint64_t cpu_quota_per_sec_usec, sd_bus_message_handler_t cb, void *userdata);
/* KillUnit(unit, "all", signo), nobody waits for the reply. */
int manager_kill_unit(sd_bus *bus, const char *unit, int signo);
int manager_stop_unit(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit, sd_bus_message_handler_t cb,
                      void *userdata);

/* The unit object, by its D-Bus path (manager_unit_path()). */
int manager_unit_path(const char *unit, char **ret);
/* Ref() of a unit another client started (a warm runner's, with its AddRef= by a helper that is
 * gone): kept until our Unref() even once it is down. Nobody waits for either reply; the calls after
 * them on this bus are handled after them, and the manager drops what is left of our references
 * when our connection ends. */
int manager_ref_unit(sd_bus *bus, const char *unit_path);
int manager_unref_unit(sd_bus *bus, const char *unit_path);
/* The interface a PropertiesChanged signal is about (its first argument, read). */
typedef enum ManagerInterface {
        MANAGER_INTERFACE_UNIT,
        MANAGER_INTERFACE_SERVICE,
        MANAGER_INTERFACE_OTHER,
} ManagerInterface;
ManagerInterface manager_changed_interface(sd_bus_message *m);
/* GetAll of the Unit or the Service interface; Get of one property of either. */
int manager_get_unit_props(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit_path,
                           sd_bus_message_handler_t cb, void *userdata);
int manager_get_service_props(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit_path,
                              sd_bus_message_handler_t cb, void *userdata);
int manager_get_service_property(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit_path, const char *name,
                                 sd_bus_message_handler_t cb, void *userdata);
int manager_get_unit_property(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit_path, const char *name,
                              sd_bus_message_handler_t cb, void *userdata);

/* Signal matches, installed before the call whose effect they watch. */
int manager_watch_unit(sd_bus *bus, sd_bus_slot **ret_slot, const char *unit_path,
                       sd_bus_message_handler_t cb, void *userdata);
int manager_watch_jobs(sd_bus *bus, sd_bus_slot **ret_slot_new, sd_bus_slot **ret_slot_removed,
                       sd_bus_message_handler_t on_new, sd_bus_message_handler_t on_removed, void *userdata);

/* Reads the properties named in the table from a GetAll() reply; the rest is skipped. */
typedef struct ManagerProp {
        const char *name;
        const char *sig; /* "s", "t", "i", "u", "ay" (16 bytes: an id128), "(uo)" (only the id) */
        void *ptr;
} ManagerProp;
int manager_read_props(sd_bus_message *m, const ManagerProp *props, size_t n);

/* Repeating calls while the manager is away: one timer, and since when the manager is away. */
typedef struct ManagerRetry {
        sd_event_source *timer;
        uint64_t transient_since; /* CLOCK_MONOTONIC usec of the first transient error in a row; 0: none */
        const char *unit;         /* named in the log lines */
        sd_event_time_handler_t handler;
        void *userdata;
} ManagerRetry;
/* Arms the timer usec from now (also for a re-read that is no retry). */
int manager_retry_schedule(ManagerRetry *r, sd_event *e, uint64_t usec);
/* After an error: true if the call is to be repeated (the timer is armed), false if the caller is
 * to give up, because the error is not transient or the manager was away too long. */
bool manager_retry_later(ManagerRetry *r, sd_event *e, const sd_bus_error *error, const char *what);
/* A reply came: the manager answers again. */
void manager_retry_over(ManagerRetry *r);
void manager_retry_done(ManagerRetry *r);

/* For --check-config, without an event loop: pyward-helper.socket's MaxConnections=. */
int manager_socket_max_connections(sd_bus *bus, uint32_t *ret, sd_bus_error *error);
/* How many units matching pattern are active (or activating, reloading, deactivating), for
 * --check-config: one synchronous ListUnitsByPatterns. */
int manager_count_active_units(sd_bus *bus, const char *pattern, uint32_t *ret, sd_bus_error *error);
