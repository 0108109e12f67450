# bash completion for echo-server and echo-client        -*- shell-script -*-
#
# The options come from the program's own --help when completing, so the
# completion knows every option the installed program has and no other.
# Installed twice, as echo-server and as echo-client (bash-completion loads
# a command's completion by its name); the one file serves both.

# Prints one line per option of program $1: "NAMES|ARG", where NAMES are
# its spellings ("-p --port") and ARG is its argument ("N", "v1|v2"), empty
# for a flag. From Boost.Program_options' --help: "  -p [ --port ] N (=9001)  text".
_echo_service_options() {
    "$1" --help 2>/dev/null | awk '
        /^  -/ {
            spec = $0
            sub(/^ +/, "", spec)
            sub(/   .*/, "", spec)          # the description, after 3 or more spaces
            sub(/ \(=[^)]*\)$/, "", spec)   # the default
            names = ""; arg = ""
            n = split(spec, word, " ")
            for (i = 1; i <= n; i++) {
                if (word[i] ~ /^--?[A-Za-z0-9]/) names = names (names == "" ? "" : " ") word[i]
                else if (word[i] != "[" && word[i] != "]") arg = arg (arg == "" ? "" : " ") word[i]
            }
            if (!seen[names]++) print names "|" arg
        }'
}

_echo_service() {
    local cur prev words cword
    _init_completion || return

    local line names arg all=""
    while IFS= read -r line; do
        names=${line%%|*}
        arg=${line#*|}
        all+=" $names"
        if [[ " $names " == *" $prev "* && -n $arg ]]; then
            case $prev in
                --log-level)
                    COMPREPLY=($(compgen -W 'trace debug info warn error critical off' -- "$cur")) ;;
                --servername)
                    _known_hosts_real -- "$cur" ;;
                *)
                    if [[ $arg == *"|"* ]]; then
                        COMPREPLY=($(compgen -W "${arg//|/ }" -- "$cur")) # a choice: v1|v2
                    elif [[ $arg == FILE* ]]; then
                        _filedir
                    fi ;; # otherwise a value of the user's own
            esac
            return
        fi
    done < <(_echo_service_options "$1")

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$all" -- "$cur"))
    elif [[ $1 == *echo-client ]]; then
        _known_hosts_real -- "$cur" # HOST, as for nc
    fi
} && complete -F _echo_service echo-server echo-client
