#!/usr/bin/env node
// The package registry this project installs from serves only some of the per-platform binaries that
// tools publish as optional dependencies (biome, rollup, turbo, buf: no darwin/win32/android/musl builds).
// `npm install` then leaves those entries out of package-lock.json, and `npm ci` refuses a lock that does
// not mention every optional dependency. This script adds the missing entries, marked optional and with the
// exact version the parent pins, so `npm ci` validates the lock and skips them as it skips any optional
// package it cannot install (they are never for this platform). Run it after any `npm install`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;
// Names already in the lock at any depth: such a package is installable here, so it is not stubbed.
const present = new Set(Object.keys(packages).map((key) => key.slice(key.lastIndexOf('node_modules/') + 13)));
let added = 0;
for (const entry of Object.values(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    if (present.has(name) || !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec)) continue; // only exact pins are stubbed
    packages[`node_modules/${name}`] = {
      version: spec,
      dev: entry.dev === true || undefined,
      optional: true,
    };
    present.add(name);
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => a.localeCompare(b, 'en')));
lock.packages = sorted;
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lockfile-platform-stubs: added ${added} optional platform entries`);
