/*
** suites.h -- one cmocka group per test file; main runs them all.
** Each returns the number of tests that failed.
*/
#ifndef SPEC_SUITES_H
#define SPEC_SUITES_H

int run_procfs_suite (void);
int run_capture_suite (void);
int run_thread_suite (void);
int run_handle_suite (void);
int run_region_suite (void);
int run_usage_suite (void);
int run_name_suite (void);
int run_lifecycle_suite (void);
int run_error_suite (void);
int run_marker_suite (void);
int run_allocator_suite (void);
int run_duplicate_suite (void);
int run_create_flag_suite (void);
int run_self_suite (void);
int run_freeze_suite (void);
int run_seccomp_suite (void);
int run_core_suite (void);
int run_vaclone_suite (void);
int run_reaper_suite (void);
int run_fault_suite (void);
int run_racing_suite (void);
int run_unfrozen_suite (void);
int run_stack_capture_suite (void);
int run_unwind_suite (void);
int run_stack_hazard_suite (void);
int run_save_suite (void);
int run_coreload_suite (void);
int run_crossdup_suite (void);
int run_crossdup_peer (void);   /* PSS_CROSSDUP_PEER set: a peer, exec'd */

#endif
