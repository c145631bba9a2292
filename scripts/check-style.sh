#!/usr/bin/env bash
# scripts/check-style.sh - source size report per folder and the file-size cap (600 lines).
#
# Usage: scripts/check-style.sh [--format]
#
# Prints the .h/.cpp line counts per folder (files, lines, largest file), then
# every file over the limits: over 400 lines is a warning, over 600 lines an
# error (exit 1). With --format, also lists the files that clang-format (with
# the root .clang-format) would change; that list is informational and never
# fails. Files come from git (tracked and untracked, ignored ones left out),
# so build folders never count.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

warn_lines=400
max_lines=600
check_format=0
for arg in "$@"; do
  case "$arg" in
  --format) check_format=1 ;;
  -h | --help)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "error: unknown argument '$arg'" >&2
    echo "usage: scripts/check-style.sh [--format]" >&2
    exit 2
    ;;
  esac
done

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.h' '*.cpp' | sort -u)
else
  mapfile -t files < <(find . -path './build*' -prune -o \( -name '*.h' -o -name '*.cpp' \) -type f -print |
    sed 's|^\./||' | sort)
fi

# One "lines path" row per file that exists (git may list a deleted file).
counts=$(for f in "${files[@]}"; do [ -f "$f" ] && printf '%d %s\n' "$(wc -l <"$f")" "$f"; done)

printf '%-28s %6s %8s  %s\n' folder files lines largest
printf '%s\n' "$counts" | awk -v fmt='%-28s %6d %8d  %s (%d)\n' '
  NF == 2 {
    dir = $2; sub(/\/[^\/]*$/, "", dir); if (dir == $2) dir = ".";
    n[dir]++; l[dir] += $1;
    if ($1 > big[dir]) { big[dir] = $1; bigf[dir] = $2 }
    tn++; tl += $1
  }
  END {
    for (d in n) printf fmt, d, n[d], l[d], bigf[d], big[d] | "sort"
    close("sort")
    printf "%-28s %6d %8d\n", "total", tn, tl
  }'

over=$(printf '%s\n' "$counts" | awk -v m="$max_lines" 'NF == 2 && $1 > m' | sort -rn)
near=$(printf '%s\n' "$counts" | awk -v w="$warn_lines" -v m="$max_lines" 'NF == 2 && $1 > w && $1 <= m' | sort -rn)

status=0
if [ -n "$near" ]; then
  echo
  echo "warning: files over $warn_lines lines (typical is 100-200):"
  printf '%s\n' "$near" | awk '{ printf "  %5d  %s\n", $1, $2 }'
fi
if [ -n "$over" ]; then
  echo
  echo "error: files over the cap of $max_lines lines:"
  printf '%s\n' "$over" | awk '{ printf "  %5d  %s\n", $1, $2 }'
  status=1
fi

if [ "$check_format" = 1 ]; then
  echo
  if ! command -v clang-format >/dev/null; then
    echo "note: clang-format not found, format check skipped"
  else
    unformatted=()
    for f in "${files[@]}"; do
      [ -f "$f" ] || continue
      if ! clang-format "$f" | cmp -s - "$f"; then unformatted+=("$f"); fi
    done
    echo "format: ${#unformatted[@]} of ${#files[@]} files differ from clang-format (informational):"
    for f in "${unformatted[@]}"; do echo "  $f"; done
  fi
fi
exit $status
