#!/usr/bin/env bash
# Entrypoint of hodei-e2e.local/postgres: the interface of the official postgres image
# (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA, POSTGRES_HOST_AUTH_METHOD,
# POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR, *_FILE variants, /docker-entrypoint-initdb.d),
# on Debian's postgresql package. Tuned for fast first starts: the temporary server that the
# official image always starts is only started when POSTGRES_DB or init scripts need it.
set -Eeo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*"; }
die() { log "error: $*" >&2; exit 1; }

# file_env VAR [DEFAULT]: VAR from $VAR or from the file named by $VAR_FILE.
file_env() {
	local var="$1" fileVar="${1}_FILE" def="${2:-}"
	if [ -n "${!var:-}" ] && [ -n "${!fileVar:-}" ]; then
		die "both $var and $fileVar are set (but are exclusive)"
	fi
	local val="$def"
	if [ -n "${!var:-}" ]; then
		val="${!var}"
	elif [ -n "${!fileVar:-}" ]; then
		val="$(< "${!fileVar}")"
	fi
	export "$var"="$val"
	unset "$fileVar"
}

# `docker run IMAGE -c fsync=off` means `postgres -c fsync=off`.
if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
	exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
TEMPLATE=/usr/share/postgresql/${PG_MAJOR:-15}/hodei-template

if [ "$(id -u)" = '0' ]; then
	# An empty tmpfs or a fresh volume is root-owned: hand it to postgres, then drop privileges.
	mkdir -p "$PGDATA" /var/run/postgresql
	chmod 00700 "$PGDATA" || :
	find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' + 2>/dev/null || :
	chown postgres:postgres /var/run/postgresql || :
	chmod 03775 /var/run/postgresql || :
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		mkdir -p "$POSTGRES_INITDB_WALDIR"
		find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres:postgres '{}' + || :
		chmod 00700 "$POSTGRES_INITDB_WALDIR" || :
	fi
	exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
		cat >&2 <<-'EOM'
			Error: Database is uninitialized and superuser password is not specified.
			       You must specify POSTGRES_PASSWORD to a non-empty value for the
			       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
			       Or set POSTGRES_HOST_AUTH_METHOD=trust to allow all connections
			       without a password (not recommended).
		EOM
		exit 1
	fi

	mkdir -p "$PGDATA"
	chmod 00700 "$PGDATA" || :
	shopt -s nullglob
	init_files=(/docker-entrypoint-initdb.d/*)
	shopt -u nullglob
	need_db=0
	if [ "$POSTGRES_DB" != 'postgres' ]; then need_db=1; fi

	if [ "$POSTGRES_USER" = 'postgres' ] && [ -z "$POSTGRES_INITDB_ARGS" ] \
		&& [ -z "${POSTGRES_INITDB_WALDIR:-}" ] && [ "${LANG:-}" = 'C.UTF-8' ] \
		&& [ -z "${LC_ALL:-}${LC_CTYPE:-}${LC_COLLATE:-}${LC_MESSAGES:-}" ] \
		&& [ -s "$TEMPLATE/PG_VERSION" ] && [ -z "$(ls -A "$PGDATA")" ]; then
		# Fast path: the image's pre-initialised cluster is what initdb would produce here.
		log "initialising $PGDATA from the image's template cluster"
		cp -a "$TEMPLATE/." "$PGDATA/"
		sql=''
		if [ -n "$POSTGRES_PASSWORD" ]; then
			pw="${POSTGRES_PASSWORD//\\/\\\\}"
			pw="${pw//\'/\'\'}"
			pw="${pw//$'\n'/\\n}"
			pw="${pw//$'\r'/\\r}"
			sql+="ALTER ROLE postgres PASSWORD E'${pw}';"$'\n\n'
		fi
		if [ "$need_db" = 1 ]; then
			sql+="CREATE DATABASE \"${POSTGRES_DB//\"/\"\"}\";"$'\n\n'
			need_db=0
		fi
		if [ -n "$sql" ]; then
			if ! out="$(printf '%s' "$sql" | postgres --single -j -D "$PGDATA" -c fsync=off \
					-c log_min_messages=warning -c log_min_error_statement=panic postgres 2>&1 >/dev/null)" \
				|| printf '%s' "$out" | grep -q 'ERROR'; then
				printf '%s\n' "$out" >&2
				die "setting up the template cluster failed"
			fi
		fi
	else
		initdb_extra=()
		if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
			initdb_extra+=(--waldir "$POSTGRES_INITDB_WALDIR")
		fi
		pwfile=''
		if [ -n "$POSTGRES_PASSWORD" ]; then
			# shellcheck disable=SC2016  # expanded by the eval below
			pwfile='--pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD")'
		fi
		log "initdb in $PGDATA (superuser $POSTGRES_USER)"
		# eval, like the official image, so that POSTGRES_INITDB_ARGS may hold quoted words.
		# --no-sync: this image is for tests; PGDATA is usually a tmpfs anyway.
		eval 'initdb --username="$POSTGRES_USER" '"$pwfile"' --no-sync --no-instructions "${initdb_extra[@]}" '"$POSTGRES_INITDB_ARGS" >/dev/null
	fi

	printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
	printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"

	if [ "$need_db" = 1 ] || [ "${#init_files[@]}" -gt 0 ]; then
		# A temporary server on the unix socket only, as the official image does.
		pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c fsync=off" -w start >/dev/null
		export PGHOST=/var/run/postgresql PGUSER="$POSTGRES_USER"
		psql_cmd=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$POSTGRES_USER")
		if [ "$need_db" = 1 ]; then
			log "creating database $POSTGRES_DB"
			"${psql_cmd[@]}" --dbname postgres --set db="$POSTGRES_DB" -q <<-'EOSQL'
				CREATE DATABASE :"db";
			EOSQL
		fi
		psql_cmd+=(--dbname "$POSTGRES_DB")
		for f in "${init_files[@]}"; do
			case "$f" in
				*.sh)
					# shellcheck disable=SC1090
					if [ -x "$f" ]; then log "running $f"; "$f"
					else log "sourcing $f"; . "$f"; fi ;;
				*.sql) log "running $f"; "${psql_cmd[@]}" -f "$f" ;;
				*.sql.gz) log "running $f"; gunzip -c "$f" | "${psql_cmd[@]}" ;;
				*.sql.xz) log "running $f"; xzcat "$f" | "${psql_cmd[@]}" ;;
				*) log "ignoring $f" ;;
			esac
		done
		pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
		unset PGHOST PGUSER
	fi
	unset POSTGRES_PASSWORD
	log "PostgreSQL init process complete; ready for start up."
fi

shift
exec postgres "$@"
