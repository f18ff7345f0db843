/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests the MAC layers' part of a job's unit: pyward-landlock's command line before the
 * interpreter, AppArmorProfile= only where loaded, the layers the journal names. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config-paths.h"
#include "mac.h"
#include "test.h"

static sd_bus *bus_new(int sv[2]) {
        sd_bus *bus = NULL;

        /* A bus that never talks: enough to build and read back a message. */
        assert_se(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        assert_se(sd_bus_new(&bus) >= 0);
        assert_se(sd_bus_set_fd(bus, sv[0], sv[0]) >= 0);
        assert_se(sd_bus_start(bus) >= 0);
        return bus;
}

/* The wrapper's arguments, space-separated. */
static char *exec_args(const JobSpec *s) {
        sd_bus_message *m = NULL;
        char *text = NULL;
        size_t size = 0;
        int sv[2];
        sd_bus *bus = bus_new(sv);
        const char *a;
        FILE *f;

        assert_se(sd_bus_message_new_signal(bus, &m, "/x", "x.y", "Z") >= 0);
        assert_se(sd_bus_message_open_container(m, 'a', "s") >= 0);
        assert_se(mac_exec_args_append(m, s) >= 0);
        assert_se(sd_bus_message_close_container(m) >= 0);
        assert_se(sd_bus_message_seal(m, 1, 0) >= 0);
        assert_se(sd_bus_message_rewind(m, true) >= 0);
        f = open_memstream(&text, &size);
        assert_se(f);
        assert_se(sd_bus_message_enter_container(m, 'a', "s") >= 0);
        while (sd_bus_message_read(m, "s", &a) > 0)
                fprintf(f, "%s ", a);
        fclose(f);
        sd_bus_message_unref(m);
        sd_bus_close_unref(bus);
        close(sv[1]);
        return text;
}

/* The names of the properties mac_props_append() adds, space-separated. */
static char *prop_names(const JobSpec *s) {
        sd_bus_message *m = NULL;
        char *text = NULL;
        size_t size = 0;
        int sv[2];
        sd_bus *bus = bus_new(sv);
        const char *name;
        FILE *f;

        assert_se(sd_bus_message_new_signal(bus, &m, "/x", "x.y", "Z") >= 0);
        assert_se(sd_bus_message_open_container(m, 'a', "(sv)") >= 0);
        assert_se(mac_props_append(m, s) >= 0);
        assert_se(sd_bus_message_close_container(m) >= 0);
        assert_se(sd_bus_message_seal(m, 1, 0) >= 0);
        assert_se(sd_bus_message_rewind(m, true) >= 0);
        f = open_memstream(&text, &size);
        assert_se(f);
        assert_se(sd_bus_message_enter_container(m, 'a', "(sv)") >= 0);
        while (sd_bus_message_enter_container(m, 'r', "sv") > 0) {
                assert_se(sd_bus_message_read(m, "s", &name) > 0);
                fprintf(f, "%s ", name);
                assert_se(sd_bus_message_skip(m, "v") >= 0);
                assert_se(sd_bus_message_exit_container(m) >= 0);
        }
        fclose(f);
        sd_bus_message_unref(m);
        sd_bus_close_unref(bus);
        close(sv[1]);
        return text;
}

static void has(const char *text, const char *needle) {
        if (!strstr(text, needle)) {
                fprintf(stderr, "missing: %s\nin: %s\n", needle, text);
                abort();
        }
}

int main(void) {
        char *ro[] = { (char *) "/srv/data", NULL };
        Profile p = { .name = (char *) "default", .interpreter = (char *) "/usr/bin/python3" };
        JobSpec s = { .profile = &p, .landlock_abi = 6 };
        char buf[64], *t;

        /* Landlock: the wrapper first, its options, then "--" before the interpreter's argv. */
        assert_se(mac_job_landlock(&s));
        assert_se(strcmp(mac_exec_path(&s), PKGLIBDIR "/pyward-landlock") == 0);
        t = exec_args(&s);
        has(t, PKGLIBDIR "/pyward-landlock --abi 6 --read /usr --read /etc ");
        has(t, "--write /tmp --write /var/tmp --write /dev/shm ");
        has(t, "--device /dev/null ");
        has(t, "--device /dev/pts --list / -- ");
        assert_se(!strstr(t, "/opt"));
        assert_se(!strstr(t, "--write /usr"));
        free(t);
        t = prop_names(&s);
        assert_se(strcmp(t, "SystemCallFilter ") == 0); /* no AppArmorProfile=: not loaded */
        free(t);
        assert_se(strcmp(mac_job_layers(&s, buf, sizeof(buf)), "landlock-abi6") == 0);
        assert_se(strcmp(mac_layers_started(), "landlock-abi6") == 0);

        /* A profile's paths and a venv outside the OS are read, never written. */
        p.read_only_paths = ro;
        p.interpreter = (char *) "/opt/venv/bin/python3";
        s.landlock_abi = 2;
        t = exec_args(&s);
        has(t, "--abi 2 ");
        has(t, "--read /srv/data --read /opt/venv --write /tmp ");
        free(t);

        /* AppArmor where loaded: the profile by the network the job has. */
        s.apparmor = true;
        t = prop_names(&s);
        assert_se(strcmp(t, "AppArmorProfile SystemCallFilter ") == 0);
        free(t);
        assert_se(strcmp(mac_job_layers(&s, buf, sizeof(buf)), "landlock-abi2,apparmor") == 0);

        /* No Landlock in the kernel: the interpreter itself, no wrapper, no filter entry. */
        s.landlock_abi = 0;
        assert_se(!mac_job_landlock(&s));
        assert_se(strcmp(mac_exec_path(&s), "/opt/venv/bin/python3") == 0);
        t = exec_args(&s);
        assert_se(strcmp(t, "") == 0);
        free(t);
        t = prop_names(&s);
        assert_se(strcmp(t, "AppArmorProfile ") == 0);
        free(t);
        assert_se(strcmp(mac_job_layers(&s, buf, sizeof(buf)), "apparmor") == 0);
        s.apparmor = false;
        assert_se(strcmp(mac_job_layers(&s, buf, sizeof(buf)), "none") == 0);

#if PYWARD_DEBUG_HOOKS
        /* The test-only profiles: Landlock off, or the systemd settings' holes. */
        s.landlock_abi = 6;
        p.name = (char *) MAC_DEBUG_PROFILE_SYSTEMD_ONLY;
        assert_se(!mac_job_landlock(&s));
        p.name = (char *) MAC_DEBUG_PROFILE_LANDLOCK_ONLY;
        assert_se(mac_job_landlock(&s));
        t = prop_names(&s);
        assert_se(strcmp(t, "SystemCallFilter ReadWritePaths BindReadOnlyPaths PrivateNetwork ") == 0);
        free(t);
#endif
        return 0;
}
