/*
** faults.h -- allocation failure on demand. The suite is linked with
** --wrap=malloc,--wrap=calloc,--wrap=realloc, so every allocation libpss
** makes (and the suite's own) passes through faults.c; once armed, the
** n-th allocation from then on fails -- that one only, or every one from
** it on. Allocations inside the C library (opendir, pthread_create) are
** not libpss's and are not counted.
*/
#ifndef SPEC_FAULTS_H
#define SPEC_FAULTS_H

/* The n-th allocation from now (0: the next) fails; with `from_then_on`
** every later one fails too. */
void faults_arm (long n, int from_then_on);
/* Disarms; returns how many allocations failed since faults_arm. */
long faults_disarm (void);

#endif
