# doxygen-filter.awk - lets Doxygen read tpipe.h's plain C comments as
# documentation without touching the header (Doxyfile INPUT_FILTER).
# Keeps every line where it is, so warnings name the header's real lines.
#  - the opening comment documents the file (@file at its end);
#  - a comment starting a line documents the declarations after it; when
#    several declarations share one comment (up to a blank line) they become
#    a member group, and DISTRIBUTE_GROUP_DOC gives each of them the text;
#  - a comment after a struct field on its line documents that field;
#  - "/* ----" section banners stay plain comments.
{ L[NR] = $0 }
END {
    for (i = 1; i <= NR; i++) {
        if (L[i] ~ /^\/\* / && L[i] !~ /^\/\* -/) {
            s = i
            while (i <= NR && L[i] !~ /\*\//)
                i++
            # the declarations this comment covers: up to a blank line
            decls = 0; braces = 0; b = i
            for (j = i + 1; j <= NR && L[j] !~ /^[ \t]*$/ && L[j] !~ /^[ \t]*\/\*/; j++) {
                if (L[j] ~ /[{}]/) braces = 1
                if (L[j] ~ /;[ \t]*$/ || L[j] ~ /^#[ \t]*define/) decls++
                b = j
            }
            sub(/^\/\* /, "/** ", L[s])
            if (s == 1)
                sub(/\*\/[ \t]*$/, "@file */", L[i])
            if (decls >= 2 && !braces) {
                L[s] = "/** @{ */ " L[s]
                # close on the blank line after the block, where it cannot
                # become part of a #define's value
                if (b + 1 <= NR && L[b + 1] ~ /^[ \t]*$/)
                    L[b + 1] = "/** @} */"
                else
                    L[b] = L[b] " /** @} */"
            }
        } else {
            if (match(L[i], /;[ \t]*\/\* /))
                L[i] = substr(L[i], 1, RSTART) " /**< " substr(L[i], RSTART + RLENGTH)
        }
    }
    for (i = 1; i <= NR; i++)
        print L[i]
}
