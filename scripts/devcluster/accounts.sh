# shellcheck shell=bash
# The article's accounts and users in Slurm's accounting (sourced by up). Idempotent:
# sacctmgr's "add" of what exists changes nothing and says so, and the modify sets values.
#
#   root
#   ├── tesla  fairshare 60, no GPU cap          users tesla1 tesla2
#   └── xai    fairshare 40, GrpTRES gres/gpu=4  users xai1 xai2

GF_USERS_OF_TESLA=tesla1,tesla2
GF_USERS_OF_XAI=xai1,xai2

# what `sacctmgr -n -P show assoc format=Account,User,Share,GrpTRES` prints once in place
gf_expected_assocs() {
    printf '%s\n' "tesla||60|" "tesla|tesla1|1|" "tesla|tesla2|1|" \
        "xai||40|gres/gpu=4" "xai|xai1|1|" "xai|xai2|1|" "root|gfslurmrest|1|"
}

add_accounts() {
    local user
    # slurmrestd's user and the submitters are real Linux users (Slurm runs jobs as them)
    id gfslurmrest >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin gfslurmrest
    for user in ${GF_USERS_OF_TESLA//,/ } ${GF_USERS_OF_XAI//,/ }; do
        id "$user" >/dev/null 2>&1 || useradd -M -s /bin/bash "$user"
    done
    # each sacctmgr call costs about 0.4 s: skip them all when everything is in place
    local have
    have=$(sacctmgr -n -P show assoc cluster="$GF_CLUSTER" format=Account,User,Share,GrpTRES)
    if ! gf_expected_assocs | grep -qvxF -f <(echo "$have"); then
        return 0 # no expected line is missing
    fi
    sacctmgr -i add account tesla cluster="$GF_CLUSTER" parent=root fairshare=60 \
        description=tesla organization=tesla >/dev/null 2>&1 || true
    sacctmgr -i add account xai cluster="$GF_CLUSTER" parent=root fairshare=40 \
        description=xai organization=xai >/dev/null 2>&1 || true
    sacctmgr -i modify account where name=xai cluster="$GF_CLUSTER" \
        set GrpTRES=gres/gpu=4 >/dev/null 2>&1 || true
    sacctmgr -i add user "$GF_USERS_OF_TESLA" account=tesla cluster="$GF_CLUSTER" \
        fairshare=1 >/dev/null 2>&1 || true
    sacctmgr -i add user "$GF_USERS_OF_XAI" account=xai cluster="$GF_CLUSTER" \
        fairshare=1 >/dev/null 2>&1 || true
    # an Administrator, so that slurmrestd's slurmdb paths answer
    sacctmgr -i add user gfslurmrest account=root cluster="$GF_CLUSTER" \
        adminlevel=Administrator >/dev/null 2>&1 || true
    have=$(sacctmgr -n -P show assoc cluster="$GF_CLUSTER" format=Account,User,Share,GrpTRES)
    local missing
    missing=$(gf_expected_assocs | grep -vxF -f <(echo "$have") || true)
    if [ -n "$missing" ]; then
        echo "devcluster: associations not in place (Account|User|Share|GrpTRES):" >&2
        echo "$missing" >&2
        exit 1
    fi
}
